//go:build linux

package local

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/portico-ingress/portico/e2e/framework"
)

// loadTarget is one request a steady load sends, and the service that must
// answer it with 200.
type loadTarget struct {
	host, path, service string
}

// steadyLoad is framework's bounded load with one client sending the
// targets in turn every 3 ms, for at most 20,000 requests or a minute: the
// load of the fault tests outside TestFaults, which need no outage
// analysis, only "nothing failed".
type steadyLoad struct {
	load   *framework.Load
	closer func()
}

// startSteadyLoad starts a steady load on c. It has an HTTP client of its
// own: sharing the controller's client with the test's own requests from
// another goroutine lets Go's transport dial a connection it then never
// uses, and nginx's graceful quit waits for that connection's first request
// (client_header_timeout, 60 s), so the controller's stop would time out.
func startSteadyLoad(t *testing.T, c *controller, targets ...loadTarget) *steadyLoad {
	t.Helper()
	// A connection per request, as many clients do: a kept-alive one would
	// hide what happens to new connections.
	client := framework.NewHTTPClient(c.HTTPPort, false)
	probes := make([]framework.Probe, len(targets))
	for i, tg := range targets {
		probe := framework.HTTPProbe(client, "http", tg.host, tg.path, framework.StatusIs(200, tg.service))
		probes[i] = func(ctx context.Context) framework.Outcome {
			out := probe(ctx)
			if !out.OK {
				out.Detail = fmt.Sprintf("GET http://%s%s: %s, want 200 from %s", tg.host, tg.path, out.Detail, tg.service)
			}
			return out
		}
	}
	var next atomic.Int64
	l := &steadyLoad{
		load: framework.StartLoad(framework.LoadConfig{Clients: 1, Interval: 3 * time.Millisecond, MaxDuration: time.Minute, MaxRequests: 20_000},
			func(ctx context.Context) framework.Outcome { return probes[int(next.Add(1)-1)%len(probes)](ctx) }),
		closer: client.CloseIdleConnections,
	}
	t.Cleanup(func() {
		if sent, failures := l.finish(); t.Failed() {
			// Say what the clients saw, even when the test stopped early.
			t.Logf("load: %d requests, %d failed; the first: %q", sent, len(failures), failures[:min(len(failures), 5)])
		}
	})
	return l
}

// analysis stops the load and analyses its samples.
func (l *steadyLoad) analysis() framework.Analysis {
	samples := l.load.Stop()
	l.closer()
	return framework.Analyse(samples)
}

// finish stops the load and returns how many requests it sent and the
// failures, each with the time it was sent.
func (l *steadyLoad) finish() (sent int, failures []string) {
	samples := l.load.Stop()
	l.closer()
	for _, s := range samples {
		if !s.OK {
			failures = append(failures, s.Start.Format(time.StampMilli)+" "+s.Detail)
		}
	}
	return len(samples), failures
}

// requireNoFailures stops the load and requires that it sent at least
// minSent requests and none failed.
func (l *steadyLoad) requireNoFailures(t *testing.T, minSent int) {
	t.Helper()
	sent, failures := l.finish()
	t.Logf("load: %d requests, %d failed", sent, len(failures))
	if len(failures) > 10 {
		failures = append(failures[:10], fmt.Sprintf("... and %d more", len(failures)-10))
	}
	assert.Empty(t, failures, "requests failed")
	assert.GreaterOrEqual(t, sent, minSent, "the load did not cover the fault")
}
