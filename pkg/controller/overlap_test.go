package controller

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// stormSource changes its snapshot and calls changed from several
// goroutines at once, as informers of several kinds do.
type stormSource struct {
	t       *testing.T
	mu      sync.Mutex
	snap    *snapshot.Snapshot
	version int
	writers int
	changes int
	done    chan struct{}
}

func (s *stormSource) Snapshot() (*snapshot.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap, nil
}

func (s *stormSource) set(version int) error {
	snap, err := fixture.Parse(fmt.Appendf(nil, `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: a}
spec:
  ingressClassName: portico
  rules:
  - host: a.example.com
    http: {paths: [{path: /v%d, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
`, version))
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if version > s.version {
		s.snap, s.version = snap, version
	}
	return nil
}

func (s *stormSource) Run(ctx context.Context, changed func()) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, s.writers)
	for range s.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				v := int(next.Add(1))
				if v > s.changes || ctx.Err() != nil {
					return
				}
				if err := s.set(v); err != nil {
					errs <- err
					return
				}
				changed()
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		s.t.Errorf("storm source: %v", err)
	}
	close(s.done)
	<-ctx.Done()
	return nil
}

// slowNginx takes a while per Apply and records how many ran at once.
type slowNginx struct {
	inFlight, maxInFlight, applies atomic.Int64
}

func (n *slowNginx) ApplyChange(context.Context, nginx.Change) (nginx.Result, error) {
	now := n.inFlight.Add(1)
	defer n.inFlight.Add(-1)
	for {
		old := n.maxInFlight.Load()
		if now <= old || n.maxInFlight.CompareAndSwap(old, now) {
			break
		}
	}
	n.applies.Add(1)
	time.Sleep(15 * time.Millisecond) // about a small nginx -t plus reload
	return nginx.Result{Signalled: true}, nil
}

func (n *slowNginx) Verify(context.Context, uint64) error       { return nil }
func (n *slowNginx) CleanupFiles(string, map[string]bool) error { return nil }

// TestReloadsNeverOverlap storms the controller with triggers from four
// goroutines while every reload takes 15ms: reloads must run one at a time,
// their events must not overlap in time, fewer reloads than changes must
// happen, and the last change must end up live.
func TestReloadsNeverOverlap(t *testing.T) {
	src := &stormSource{t: t, writers: 4, changes: 400, done: make(chan struct{})}
	require.NoError(t, src.set(0))
	ngx := &slowNginx{}
	rec := &events{}
	opts := model.Options{ControllerClass: model.DefaultControllerClass, IngressClass: "portico",
		CertificateDir: "/certs", Global: model.DefaultGlobal()}
	opts.Global.DefaultCertificate = "/certs/default.pem"
	// Short hold-offs so that many reloads happen while triggers keep coming.
	c, err := New(src, ngx, Options{Model: opts, Recorder: rec, HoldOff: 5 * time.Millisecond, MaxHoldOff: 20 * time.Millisecond})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx) }()
	select {
	case <-src.done:
	case <-time.After(30 * time.Second):
		t.Fatal("storm did not finish")
	}
	last := fmt.Sprintf("%q", fmt.Sprintf("/v%d", src.changes)) // paths are quoted in nginx.conf
	require.Eventually(t, func() bool {
		return bytes.Contains(c.LiveConfig(), []byte(last))
	}, 10*time.Second, 10*time.Millisecond, "the last change goes live")
	cancel()
	require.NoError(t, <-runErr)

	evs := rec.list()
	assert.Equal(t, int64(1), ngx.maxInFlight.Load(), "reloads in flight never overlap")
	assert.Equal(t, ngx.applies.Load(), int64(len(evs)), "one event per reload")
	assert.Greater(t, len(evs), 1, "triggers kept coming, so several reloads happened")
	assert.Less(t, len(evs), src.changes/4, "bursts coalesce")
	for i := 1; i < len(evs); i++ {
		prevEnd := evs[i-1].Time.Add(evs[i-1].Duration)
		assert.False(t, evs[i].Time.Before(prevEnd), "reload %d started at %s before reload %d ended at %s",
			evs[i].Generation, evs[i].Time, evs[i-1].Generation, prevEnd)
	}
	t.Logf("%d changes from %d goroutines gave %d reloads, at most %d in flight", src.changes, src.writers, len(evs), ngx.maxInFlight.Load())
}
