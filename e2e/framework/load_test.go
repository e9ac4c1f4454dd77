//go:build linux

package framework

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadRequestCap: the load never sends more than MaxRequests, returns
// every sample in the order sent, and Stop can be called again.
func TestLoadRequestCap(t *testing.T) {
	var calls atomic.Int64
	l := StartLoad(LoadConfig{Clients: 3, Interval: time.Millisecond, MaxRequests: 50, MaxDuration: 30 * time.Second},
		func(context.Context) Outcome {
			n := calls.Add(1)
			return Outcome{OK: n%2 == 0, Detail: "odd"}
		})
	require.Eventually(t, func() bool { return !l.Running() }, 20*time.Second, time.Millisecond, "the cap ends the load")
	samples := l.Stop()
	assert.Len(t, samples, 50)
	assert.Equal(t, int64(50), calls.Load())
	for i := 1; i < len(samples); i++ {
		assert.False(t, samples[i].Start.Before(samples[i-1].Start), "sample %d sent before sample %d", i, i-1)
		assert.False(t, samples[i].End.Before(samples[i].Start))
	}
	assert.Equal(t, samples, l.Stop(), "Stop again returns the same samples")
	assert.Equal(t, 25, Analyse(samples).Failed)
}

// TestLoadTimeout: a request that does not answer fails as a timeout
// after the load's Timeout, and Stop waits for it.
func TestLoadTimeout(t *testing.T) {
	l := StartLoad(LoadConfig{Clients: 1, Timeout: 20 * time.Millisecond, MaxRequests: 2}, func(ctx context.Context) Outcome {
		<-ctx.Done()
		return Outcome{Detail: shortError(ctx.Err())}
	})
	require.Eventually(t, func() bool { return !l.Running() }, 10*time.Second, time.Millisecond)
	samples := l.Stop()
	require.Len(t, samples, 2, "Stop waits for the request in flight")
	for _, s := range samples {
		assert.False(t, s.OK)
		assert.Equal(t, "timeout", s.Detail)
	}
}

// TestHTTPProbe: the probe tells an expected answer from a wrong status, a
// wrong backend and a refused connection, and knows whether it connected.
func TestHTTPProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/web":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(EchoReply{Service: "web", Host: r.Host})
		case "/other":
			_ = json.NewEncoder(w).Encode(EchoReply{Service: "other"})
		default:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	client := NewHTTPClient(port, false)

	// A port that was free a moment ago: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	tests := []struct {
		name      string
		client    *http.Client
		path      string
		ok        bool
		connected bool
		detail    string
	}{
		{"expected answer", client, "/web", true, true, ""},
		{"wrong status", client, "/down", false, true, "status 503"},
		{"wrong backend", client, "/other", false, true, "status 200, not from web"},
		{"refused", NewHTTPClient(closed, false), "/web", false, false, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			probe := HTTPProbe(tt.client, "http", "fault.example.com", tt.path, StatusIs(http.StatusOK, "web"))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			out := probe(ctx)
			assert.Equal(t, tt.ok, out.OK, "%+v", out)
			assert.Equal(t, tt.connected, out.Connected, "%+v", out)
			assert.Equal(t, tt.detail, out.Detail)
		})
	}
}
