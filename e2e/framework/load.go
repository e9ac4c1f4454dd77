//go:build linux

package framework

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is what one request of a load saw.
type Outcome struct {
	// OK says the request was answered as expected.
	OK bool
	// Connected says a connection to the server was established, so the
	// request was on its way: a refused connection is not in flight.
	Connected bool
	// Detail says why the request failed ("" when OK): the status or the error.
	Detail string
}

// Probe sends one request and judges the answer; ctx carries the request's
// deadline. It must be safe for concurrent use.
type Probe func(ctx context.Context) Outcome

// Sample is one request a load sent.
type Sample struct {
	// Start is when the request was sent.
	Start time.Time
	// End is when the answer (or the failure) came.
	End time.Time
	// Outcome is what the request saw.
	Outcome
}

// LoadConfig bounds a load: Clients clients each send one request, wait
// for its answer (at most Timeout), then send the next at the next multiple
// of Interval after the previous one, so a hang slows a client down instead
// of piling requests up. The load ends at Stop, after MaxDuration, or once
// MaxRequests have been sent, whichever comes first.
type LoadConfig struct {
	// Clients is the number of concurrent clients.
	Clients int
	// Interval is the pace of each client.
	Interval time.Duration
	// Timeout bounds each request.
	Timeout time.Duration
	// MaxDuration caps how long the load runs.
	MaxDuration time.Duration
	// MaxRequests caps the number of requests of all clients together.
	MaxRequests int
}

// Load is a bounded load running in the background.
type Load struct {
	cfg     LoadConfig
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	sent    atomic.Int64
	mu      sync.Mutex
	samples []Sample
	stopped []Sample // the result, once stopped
	once    sync.Once
}

// StartLoad starts cfg.Clients clients sending probe. Zero fields of cfg
// take the defaults of the fault suite: 4 clients, 10ms, a 1s timeout, at
// most 60s and 30,000 requests.
func StartLoad(cfg LoadConfig, probe Probe) *Load {
	if cfg.Clients <= 0 {
		cfg.Clients = 4
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Second
	}
	if cfg.MaxDuration <= 0 {
		cfg.MaxDuration = time.Minute
	}
	if cfg.MaxRequests <= 0 {
		cfg.MaxRequests = 30_000
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.MaxDuration)
	l := &Load{cfg: cfg, cancel: cancel}
	for i := range cfg.Clients {
		l.wg.Add(1)
		go l.client(ctx, probe, time.Duration(i)*cfg.Interval/time.Duration(cfg.Clients))
	}
	return l
}

// client sends requests until ctx ends or the request cap is reached;
// offset spreads the clients over one interval.
func (l *Load) client(ctx context.Context, probe Probe, offset time.Duration) {
	defer l.wg.Done()
	select {
	case <-ctx.Done():
		return
	case <-time.After(offset):
	}
	next := time.Now()
	for ctx.Err() == nil {
		if l.sent.Add(1) > int64(l.cfg.MaxRequests) {
			return
		}
		start := time.Now()
		rctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeout)
		out := probe(rctx)
		cancel()
		s := Sample{Start: start, End: time.Now(), Outcome: out}
		l.mu.Lock()
		l.samples = append(l.samples, s)
		l.mu.Unlock()
		next = next.Add(l.cfg.Interval)
		if now := time.Now(); next.Before(now) {
			next = now // behind after a slow request: go on at once, do not burst
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(next)):
		}
	}
}

// Running reports whether the load still sends requests (its caps have
// not ended it).
func (l *Load) Running() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stopped == nil && l.sent.Load() < int64(l.cfg.MaxRequests)
}

// Stop ends the load, waits for the requests in flight (at most one
// Timeout) and returns every sample, in the order they were sent. Calling
// it again returns the same samples.
func (l *Load) Stop() []Sample {
	l.once.Do(func() {
		l.cancel()
		l.wg.Wait()
		l.mu.Lock()
		defer l.mu.Unlock()
		l.stopped = slices.Clone(l.samples)
		slices.SortStableFunc(l.stopped, func(a, b Sample) int { return a.Start.Compare(b.Start) })
		if l.stopped == nil {
			l.stopped = []Sample{}
		}
	})
	return l.stopped
}

// HTTPProbe returns a Probe that sends GET path with Host host through
// client (scheme "http" or "https"; the client decides where it connects)
// and accepts the answer when check returns nil. A transport error, a
// timeout or check's error is a failure.
func HTTPProbe(client *http.Client, scheme, host, path string, check func(*http.Response, []byte) error) Probe {
	return func(ctx context.Context) Outcome {
		var connected atomic.Bool
		trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }}
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, scheme+"://placeholder.invalid"+path, nil)
		if err != nil {
			return Outcome{Detail: err.Error()}
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return Outcome{Connected: connected.Load(), Detail: shortError(err)}
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if err == nil {
			err = check(resp, body)
		}
		if err != nil {
			return Outcome{Connected: true, Detail: shortError(err)}
		}
		return Outcome{OK: true, Connected: true}
	}
}

// shortError names a failure by its kind, so that a failure table groups
// alike errors: timeouts, refused and reset connections, TLS errors, or
// the text of any other error.
func shortError(err error) string {
	var tlsErr *tls.CertificateVerificationError
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err // "Get URL: " says nothing the table needs
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &tlsErr):
		return "tls: " + tlsErr.Err.Error()
	}
	msg := err.Error()
	for _, kind := range []string{"connection refused", "connection reset by peer", "EOF", "broken pipe", "timeout"} {
		if strings.Contains(strings.ToLower(msg), strings.ToLower(kind)) {
			return kind
		}
	}
	return msg
}

// StatusIs is a check for HTTPProbe: the answer has status want and, when
// service is not "", is the reply of that echo backend.
func StatusIs(want int, service string) func(*http.Response, []byte) error {
	return func(resp *http.Response, body []byte) error {
		if resp.StatusCode != want {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		if service == "" {
			return nil
		}
		var e EchoReply
		if err := json.Unmarshal(body, &e); err != nil || e.Service != service {
			return fmt.Errorf("status %d, not from %s", resp.StatusCode, service)
		}
		return nil
	}
}
