package status

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/reload"
)

// do runs one request against h and returns the status, headers and body.
func do(t *testing.T, h http.Handler, method, target string) (int, http.Header, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	res := rec.Result()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	return res.StatusCode, res.Header, string(body)
}

// head sends a HEAD request through a real server, because only net/http's
// server (not httptest.ResponseRecorder) drops the body of HEAD responses.
func head(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodHead, srv.URL+path, nil)
	require.NoError(t, err)
	res, err := srv.Client().Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	return res.StatusCode, string(body)
}

func TestProbes(t *testing.T) {
	failing := func() error { return errors.New("nginx master is not running") }
	ok := func() error { return nil }
	tests := []struct {
		name     string
		opts     Options
		path     string
		wantCode int
		wantBody string
	}{
		{"healthz ok", Options{Health: ok}, "/healthz", http.StatusOK, "ok\n"},
		{"healthz failing", Options{Health: failing}, "/healthz", http.StatusServiceUnavailable, "nginx master is not running\n"},
		{"healthz unset", Options{}, "/healthz", http.StatusOK, "ok\n"},
		{"readyz ok", Options{Ready: ok}, "/readyz", http.StatusOK, "ok\n"},
		{"readyz failing", Options{Ready: func() error { return errors.New("first config not live yet") }}, "/readyz", http.StatusServiceUnavailable, "first config not live yet\n"},
		{"readyz independent of health", Options{Health: failing, Ready: ok}, "/readyz", http.StatusOK, "ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := do(t, New(tt.opts).Handler(), http.MethodGet, tt.path)
			assert.Equal(t, tt.wantCode, code)
			assert.Equal(t, tt.wantBody, body)
			assert.Equal(t, "text/plain; charset=utf-8", hdr.Get("Content-Type"))
			assert.Equal(t, "no-store", hdr.Get("Cache-Control"))
		})
	}
}

func TestProbeFollowsState(t *testing.T) {
	var ready atomic.Bool
	h := New(Options{Ready: func() error {
		if !ready.Load() {
			return errors.New("not ready")
		}
		return nil
	}}).Handler()
	code, _, _ := do(t, h, http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	ready.Store(true)
	code, _, _ = do(t, h, http.MethodGet, "/readyz")
	assert.Equal(t, http.StatusOK, code)
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := reload.NewMetrics(reg)
	m.Record(reload.Event{Result: reload.ResultSuccess, Generation: 1, Duration: time.Millisecond})

	code, hdr, body := do(t, New(Options{Gatherer: reg}).Handler(), http.MethodGet, "/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, hdr.Get("Content-Type"), "text/plain")
	assert.Contains(t, body, `portico_reloads_total{result="success"} 1`)
	assert.Contains(t, body, `portico_reloads_total{result="invalid"} 0`)

	code, _, _ = do(t, New(Options{}).Handler(), http.MethodGet, "/metrics")
	assert.Equal(t, http.StatusNotFound, code, "no gatherer configured")
}

func TestDebugConfig(t *testing.T) {
	var live atomic.Pointer[[]byte]
	h := New(Options{Config: func() []byte {
		if p := live.Load(); p != nil {
			return *p
		}
		return nil
	}}).Handler()

	code, _, body := do(t, h, http.MethodGet, "/debug/config")
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "no nginx configuration is live yet")

	conf := []byte("# generation 1\nhttp {\n  server { listen 80; }\n}\n")
	live.Store(&conf)
	code, hdr, body := do(t, h, http.MethodGet, "/debug/config")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, string(conf), body)
	assert.Equal(t, "text/plain; charset=utf-8", hdr.Get("Content-Type"))

	code, body = head(t, h, "/debug/config")
	assert.Equal(t, http.StatusOK, code)
	assert.Empty(t, body, "HEAD has no body")
}

func TestDebugReloads(t *testing.T) {
	hist := reload.NewHistory(10)
	for g := uint64(1); g <= 5; g++ {
		hist.Record(reload.Event{Result: reload.ResultSuccess, Generation: g, Duration: 250 * time.Microsecond})
	}
	withHistory := New(Options{Reloads: hist.Recent}).Handler()

	tests := []struct {
		name       string
		handler    http.Handler
		target     string
		wantCode   int
		wantGens   []uint64
		wantInBody string
	}{
		{name: "all newest first", handler: withHistory, target: "/debug/reloads", wantCode: 200, wantGens: []uint64{5, 4, 3, 2, 1}},
		{name: "limit", handler: withHistory, target: "/debug/reloads?limit=2", wantCode: 200, wantGens: []uint64{5, 4}},
		{name: "limit above length", handler: withHistory, target: "/debug/reloads?limit=50", wantCode: 200, wantGens: []uint64{5, 4, 3, 2, 1}},
		{name: "limit zero rejected", handler: withHistory, target: "/debug/reloads?limit=0", wantCode: 400, wantInBody: "positive integer"},
		{name: "limit not a number", handler: withHistory, target: "/debug/reloads?limit=abc", wantCode: 400, wantInBody: `"abc"`},
		{name: "no history is an empty array", handler: New(Options{}).Handler(), target: "/debug/reloads", wantCode: 200, wantGens: []uint64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, hdr, body := do(t, tt.handler, http.MethodGet, tt.target)
			require.Equal(t, tt.wantCode, code, body)
			if tt.wantCode != http.StatusOK {
				assert.Contains(t, body, tt.wantInBody)
				return
			}
			assert.Equal(t, "application/json", hdr.Get("Content-Type"))
			assert.True(t, strings.HasPrefix(strings.TrimSpace(body), "["), "always a JSON array: %s", body)
			var events []reload.Event
			require.NoError(t, json.Unmarshal([]byte(body), &events))
			gens := make([]uint64, 0, len(events))
			for _, ev := range events {
				gens = append(gens, ev.Generation)
			}
			assert.Equal(t, tt.wantGens, gens)
		})
	}

	// The wire shape is the reload package's snake_case JSON.
	_, _, body := do(t, withHistory, http.MethodGet, "/debug/reloads?limit=1")
	var raw []map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &raw))
	require.Len(t, raw, 1)
	assert.Equal(t, 0.25, raw[0]["duration_ms"])
	assert.Contains(t, raw[0], "config_hash")
}

func TestMethodsAndRouting(t *testing.T) {
	h := New(Options{Config: func() []byte { return []byte("x") }}).Handler()
	for _, path := range []string{"/", "/healthz", "/readyz", "/metrics", "/debug/config", "/debug/reloads", "/debug/balancer", "/debug/certs", "/debug/ingresses"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			t.Run(method+" "+path, func(t *testing.T) {
				code, hdr, _ := do(t, h, method, path)
				assert.Equal(t, http.StatusMethodNotAllowed, code)
				assert.Contains(t, hdr.Get("Allow"), http.MethodGet)
			})
		}
		t.Run("HEAD "+path, func(t *testing.T) {
			code, body := head(t, h, path)
			assert.NotEqual(t, http.StatusMethodNotAllowed, code)
			assert.Empty(t, body)
		})
	}

	code, _, body := do(t, h, http.MethodGet, "/")
	assert.Equal(t, http.StatusOK, code)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/config", "/debug/reloads", "/debug/balancer", "/debug/certs", "/debug/ingresses"} {
		assert.Contains(t, body, path)
	}

	code, _, _ = do(t, h, http.MethodGet, "/nope")
	assert.Equal(t, http.StatusNotFound, code)
}

// TestEndpointGroups: a server for one group answers 404 for the other's
// paths and lists only its own, so the debug views can listen on loopback
// while probes and metrics stay on every interface.
func TestEndpointGroups(t *testing.T) {
	opts := Options{
		Config:   func() []byte { return []byte("conf") },
		Balancer: func() []byte { return []byte("{}") },
	}
	probes := []string{"/healthz", "/readyz", "/metrics"}
	debug := []string{"/debug/config", "/debug/reloads", "/debug/balancer", "/debug/certs", "/debug/ingresses"}
	tests := []struct {
		name          string
		serve         Endpoints
		answers, nots []string
	}{
		{"probes only", Probes, probes, debug},
		{"debug only", Debug, debug, probes},
		{"both", All, append(append([]string{}, probes...), debug...), nil},
		{"zero means both", 0, append(append([]string{}, probes...), debug...), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := opts
			o.Serve = tt.serve
			o.Gatherer = prometheus.NewRegistry()
			h := New(o).Handler()
			_, _, index := do(t, h, http.MethodGet, "/")
			for _, p := range tt.answers {
				code, _, _ := do(t, h, http.MethodGet, p)
				assert.Equal(t, http.StatusOK, code, p)
				assert.Contains(t, index, p)
			}
			for _, p := range tt.nots {
				code, _, _ := do(t, h, http.MethodGet, p)
				assert.Equal(t, http.StatusNotFound, code, p)
				assert.NotContains(t, index, p)
			}
		})
	}
}

func TestRunServesAndStops(t *testing.T) {
	s := New(Options{Address: "127.0.0.1:0"})
	ln, err := s.Listen()
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	url := "http://" + ln.Addr().String() + "/healthz"
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(url)
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Equal(t, "ok\n", string(body))

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}

	// The listener is closed after shutdown.
	_, err = client.Get(url)
	assert.Error(t, err)
}

func TestRunUsesAddress(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // already done: Run must listen, then shut down cleanly
	assert.NoError(t, New(Options{Address: "127.0.0.1:0"}).Run(ctx))

	err := New(Options{Address: "256.0.0.1:bad"}).Run(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listen")
}

func TestDebugBalancer(t *testing.T) {
	code, _, _ := do(t, New(Options{}).Handler(), http.MethodGet, "/debug/balancer")
	assert.Equal(t, http.StatusNotFound, code, "nothing pushed yet")

	data := []byte(`{"backends":{"default.app.80":["198.18.0.1:8080"]},"routes":{}}`)
	h := New(Options{Balancer: func() []byte { return data }}).Handler()
	code, hdr, body := do(t, h, http.MethodGet, "/debug/balancer")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "application/json", hdr.Get("Content-Type"))
	assert.JSONEq(t, string(data), body)
}
