package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/reload"
)

// gauge reads a single-series metric from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == name {
			require.Len(t, f.GetMetric(), 1)
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("%s not gathered", name)
	return 0
}

// TestFailThenRevertReportsTruth: after failed attempts, a config wanted
// that is the live one again (a reverted change, or what nginx -t refused
// left out) is recorded as a recovery: portico_last_reload_successful is 1
// again, and the history has the failure once, with its count, then the
// recovery. Retries of one config that fail the same way are one entry.
func TestFailThenRevertReportsTruth(t *testing.T) {
	// Ingress b reads a variable nginx lacks, in a snippet.
	bad := ingressA + snippetIngress("nosuchvar", "1")
	tests := []struct {
		name string
		// fail makes nginx fail the bad config.
		fail func(*fakeNginx)
		// syncs is how many times the bad config is synced (the retries).
		syncs int
		// revert puts ingressA back before the last sync; without it the
		// controller gets back to the live config by itself.
		revert bool
		// wantFailure is the failed entry's result and count.
		wantFailure reload.Result
		wantCount   int
		wantMessage string
	}{
		{name: "refused by nginx -t, then reverted", syncs: 1, revert: true,
			fail: func(n *fakeNginx) {
				n.applyErr = &nginx.TestError{Output: "nginx: [emerg] could not build server_names_hash"}
			},
			wantFailure: reload.ResultInvalid, wantCount: 1, wantMessage: reload.RecoveredMessage},
		{name: "nginx -t hung, retried, then reverted", syncs: 3, revert: true,
			fail: func(n *fakeNginx) {
				n.applyErr = &nginx.TestTimeoutError{Command: "nginx -t -q -c x", Timeout: 30e9}
			},
			wantFailure: reload.ResultTimeout, wantCount: 3, wantMessage: reload.RecoveredMessage},
		{name: "write failed, retried, then reverted", syncs: 4, revert: true,
			fail: func(n *fakeNginx) {
				n.applyErr = errors.New("write temporary config: read-only file system")
			},
			wantFailure: reload.ResultFailed, wantCount: 4, wantMessage: reload.RecoveredMessage},
		{name: "refused lines of one Ingress, left out in the same sync", syncs: 1,
			fail: func(n *fakeNginx) {
				n.refuse = func(conf []byte) string { return refuseLine(conf, "nosuchvar") }
			},
			wantFailure: reload.ResultInvalid, wantCount: 1,
			wantMessage: reload.RecoveredMessage + "; what nginx -t refused is left out (finding NginxRejected)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
			started := 0
			c := newTestController(t, src, ngx, rec, &started)
			c.opts.Model.SnippetNamespaces = []string{"default"}
			reg := prometheus.NewRegistry()
			history := reload.NewHistory(10)
			c.opts.Recorder = reload.Multi(rec, history, reload.NewMetrics(reg))
			ctx := context.Background()

			src.set(t, ingressA)
			require.NoError(t, c.Sync(ctx))
			live := c.LiveConfig()
			require.Equal(t, 1.0, gauge(t, reg, "portico_last_reload_successful"))

			src.set(t, bad)
			ngx.mu.Lock()
			tt.fail(ngx)
			ngx.mu.Unlock()
			for range tt.syncs {
				_ = c.Sync(ctx) // a retryable failure returns its error; the loop would retry
			}
			if tt.revert {
				require.Equal(t, 0.0, gauge(t, reg, "portico_last_reload_successful"), "while the config wanted fails")
				src.set(t, ingressA)
				require.NoError(t, c.Sync(ctx))
			}
			assert.Equal(t, 1.0, gauge(t, reg, "portico_last_reload_successful"), "nginx runs the config wanted")
			assert.Equal(t, live, c.LiveConfig(), "nothing was reloaded")

			var got []string
			for _, ev := range history.Recent() {
				got = append(got, fmt.Sprintf("%s x%d", ev.Result, max(ev.Count, 1)))
			}
			assert.Equal(t, []string{"recovered x1", fmt.Sprintf("%s x%d", tt.wantFailure, tt.wantCount), "success x1"}, got)
			recovered := history.Recent()[0]
			assert.Equal(t, tt.wantMessage, recovered.Message)
			assert.Equal(t, uint64(1), recovered.Generation, "the generation nginx serves")
			assert.Equal(t, history.Recent()[2].ConfigHash, recovered.ConfigHash, "the live config's hash")

			// Nothing more to say: syncing again records nothing.
			require.NoError(t, c.Sync(ctx))
			assert.Len(t, history.Recent(), 3)
		})
	}
}
