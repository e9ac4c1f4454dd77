// Package status serves the controller's HTTP status endpoints: liveness and
// readiness probes, Prometheus metrics, the live nginx.conf and the recent
// reload history. It only reads state through the callbacks in Options, so it
// never reaches back into the controller.
//
// The endpoints come in two groups so that they can listen apart: probes and
// metrics must be reachable by the kubelet and Prometheus, while the debug
// views (the whole nginx.conf, every route and Pod IP) belong on loopback
// unless the operator asks otherwise.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/portico-ingress/portico/pkg/reload"
)

// Timeouts for the HTTP server. Probes and scrapes are small and local, so
// slow clients are cut off early instead of holding connections open.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	// writeTimeout leaves room for a large nginx.conf or metrics page at scale.
	writeTimeout    = 60 * time.Second
	idleTimeout     = 120 * time.Second
	maxHeaderBytes  = 16 << 10
	shutdownTimeout = 5 * time.Second
)

// Endpoints selects the groups of endpoints a Server answers.
type Endpoints int

const (
	// Probes are /healthz, /readyz and /metrics.
	Probes Endpoints = 1 << iota
	// Debug are /debug/config, /debug/reloads, /debug/balancer,
	// /debug/certs and /debug/ingresses.
	Debug
	// All is both groups on one listener.
	All = Probes | Debug
)

// Options configures a Server. Every callback may be nil; see each field.
type Options struct {
	// Address is the listen address, e.g. ":10254" or "127.0.0.1:0".
	Address string
	// Serve selects the endpoints answered; 0 means All. Paths of the other
	// group answer 404.
	Serve Endpoints
	// Logger receives server errors; nil discards them.
	Logger *slog.Logger
	// Gatherer is exposed on /metrics; nil makes /metrics answer 404.
	Gatherer prometheus.Gatherer
	// Health returns nil while the controller loop runs and nginx is neither
	// stopped nor down for longer than a restart takes; nil means always healthy.
	Health func() error
	// Ready returns nil once the first config is verified live and while
	// nginx runs (not between restarts, not stopped); nil means always ready.
	Ready func() error
	// Config returns the live nginx.conf (file paths only, never key material); nil or empty means none yet.
	Config func() []byte
	// Reloads returns recent reload events, newest first; nil means none.
	Reloads func() []reload.Event
	// Balancer returns the Lua balancer's data last pushed to nginx (JSON:
	// pools with their endpoints, routes), nil or empty for none.
	Balancer func() []byte
	// Certificates returns the served TLS Secrets' certificates (names,
	// dates, fingerprints; never key material), sorted; nil means none.
	Certificates func() []CertificateView
	// Ingresses returns the Ingresses of the live configuration with
	// their routes and findings, sorted; nil means none.
	Ingresses func() []IngressView
}

// Server is the status HTTP server. It holds no mutable state, so one Server
// may serve several listeners and its Handler is safe for concurrent use.
type Server struct {
	opts    Options
	logger  *slog.Logger
	handler http.Handler
}

// endpoint describes one route for both the mux and the index page.
type endpoint struct {
	path    string
	doc     string
	handler http.HandlerFunc
}

// New builds a Server from opts.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, logger: logger}

	endpoints := s.endpoints()
	mux := http.NewServeMux()
	// "GET" patterns also match HEAD, and ServeMux answers any other method
	// with 405 and an Allow header, which is exactly the contract we want.
	for _, e := range endpoints {
		mux.HandleFunc("GET "+e.path, e.handler)
	}
	mux.HandleFunc("GET /{$}", s.index(endpoints))
	s.handler = mux
	return s
}

func (s *Server) endpoints() []endpoint {
	serve := s.opts.Serve
	if serve == 0 {
		serve = All
	}
	var list []endpoint
	if serve&Probes != 0 {
		list = append(list, s.probes()...)
	}
	if serve&Debug != 0 {
		list = append(list, s.debug()...)
	}
	return list
}

func (s *Server) probes() []endpoint {
	return []endpoint{
		{"/healthz", "liveness: 200 ok while the controller loop runs and nginx is not stopped nor down for long, 503 and why otherwise", s.check(s.opts.Health)},
		{"/readyz", "readiness: 200 ok once the first config is live and while nginx runs, 503 and why otherwise", s.check(s.opts.Ready)},
		{"/metrics", "Prometheus metrics", s.metrics()},
	}
}

func (s *Server) debug() []endpoint {
	return []endpoint{
		{"/debug/config", "the nginx.conf currently live (text/plain)", s.blob(s.opts.Config, "text/plain; charset=utf-8",
			"no nginx configuration is live yet: the first config has not been rendered, validated and loaded\n", "/debug/config")},
		{"/debug/reloads", "recent reload events as JSON, newest first (?limit=N)", s.reloads},
		{"/debug/balancer", "the Lua balancer's data nginx holds: endpoints and routes (JSON)", s.blob(s.opts.Balancer, "application/json",
			"no balancer data pushed: nginx runs without the Lua balancer, or no configuration is live yet\n", "/debug/balancer")},
		{"/debug/certs", "the served TLS Secrets' certificates: hosts, dates, issuer, serial, fingerprint (JSON, never keys)", s.certificates},
		{"/debug/ingresses", "the Ingresses served, with hosts, paths, backends and findings (JSON)", s.ingresses},
	}
}

// Handler returns the HTTP handler with every endpoint, for tests and embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on Options.Address and serves until ctx is done, then shuts down gracefully.
func (s *Server) Run(ctx context.Context) error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Listen opens the listener on Options.Address. Splitting it from Serve lets
// callers learn the real address (port 0 in tests) before serving starts.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.opts.Address)
	if err != nil {
		return nil, fmt.Errorf("status server: listen on %q: %w", s.opts.Address, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx is done, then shuts down, giving in-flight
// requests a bounded time to finish. It closes ln and returns nil after a
// clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.logger.Info("status server listening", slog.String("address", addr))

	select {
	case err := <-errc:
		// Serve only returns early on a listener failure.
		return fmt.Errorf("status server on %s: %w", addr, err)
	case <-ctx.Done():
	}

	// ctx is already done, so the shutdown needs a fresh, bounded context.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests outlived the grace period: cut them off rather than hang.
		return errors.Join(fmt.Errorf("status server on %s: shutdown: %w", addr, err), srv.Close())
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("status server on %s: %w", addr, err)
	}
	s.logger.Info("status server stopped", slog.String("address", addr))
	return nil
}

// check answers 200 "ok" when fn returns nil and 503 with the error text otherwise.
func (s *Server) check(fn func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if fn != nil {
			if err := fn(); err != nil {
				s.writeText(w, http.StatusServiceUnavailable, err.Error()+"\n")
				return
			}
		}
		s.writeText(w, http.StatusOK, "ok\n")
	}
}

func (s *Server) metrics() http.HandlerFunc {
	if s.opts.Gatherer == nil {
		return func(w http.ResponseWriter, _ *http.Request) {
			s.writeText(w, http.StatusNotFound, "metrics are not configured\n")
		}
	}
	h := promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		// One broken collector should not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
	})
	return h.ServeHTTP
}

// blob serves the bytes get returns with the given Content-Type, or 404
// with missing when get is nil or returns nothing; path names the endpoint
// in the log of a failed write.
func (s *Server) blob(get func() []byte, contentType, missing, path string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		var data []byte
		if get != nil {
			data = get()
		}
		if len(data) == 0 {
			s.writeText(w, http.StatusNotFound, missing)
			return
		}
		w.Header().Set("Content-Type", contentType)
		noCache(w)
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		if _, err := w.Write(data); err != nil {
			s.logger.Debug("status server: write "+path, slog.Any("error", err))
		}
	}
}

func (s *Server) reloads(w http.ResponseWriter, r *http.Request) {
	limit := -1
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.writeText(w, http.StatusBadRequest, fmt.Sprintf("limit must be a positive integer, got %q\n", v))
			return
		}
		limit = n
	}
	var events []reload.Event
	if s.opts.Reloads != nil {
		events = s.opts.Reloads()
	}
	if limit >= 0 && len(events) > limit {
		events = events[:limit]
	}
	if events == nil {
		// Encode an empty history as [] so clients need no null check.
		events = []reload.Event{}
	}
	body, err := json.MarshalIndent(events, "", "  ")
	if err != nil {
		s.logger.Warn("status server: encode reload events", slog.Any("error", err))
		s.writeText(w, http.StatusInternalServerError, "cannot encode reload events\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	noCache(w)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(append(body, '\n')); err != nil {
		s.logger.Debug("status server: write /debug/reloads", slog.Any("error", err))
	}
}

// index lists the endpoints so an operator hitting the port can find them.
func (s *Server) index(endpoints []endpoint) http.HandlerFunc {
	var b strings.Builder
	b.WriteString("Portico status endpoints:\n\n")
	for _, e := range endpoints {
		fmt.Fprintf(&b, "  %-17s %s\n", e.path, e.doc)
	}
	page := b.String()
	return func(w http.ResponseWriter, _ *http.Request) {
		s.writeText(w, http.StatusOK, page)
	}
}

// writeText writes a short plain-text response. A write error only means the
// client went away, so it is logged at Debug rather than raised.
func (s *Server) writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	noCache(w)
	w.WriteHeader(code)
	if _, err := io.WriteString(w, body); err != nil {
		s.logger.Debug("status server: write response", slog.Any("error", err))
	}
}

// noCache keeps proxies and browsers from showing stale health or config.
func noCache(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
}
