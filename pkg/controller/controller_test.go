package controller

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"k8s.io/client-go/util/workqueue"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/reload"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// fakeSource hands out a snapshot the test swaps.
type fakeSource struct {
	mu   sync.Mutex
	snap *snapshot.Snapshot
}

func (f *fakeSource) Snapshot() (*snapshot.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, nil
}

func (f *fakeSource) Run(ctx context.Context, _ func()) error { <-ctx.Done(); return nil }

func (f *fakeSource) set(t *testing.T, yaml string) {
	t.Helper()
	snap, err := fixture.Parse([]byte(yaml))
	require.NoError(t, err)
	f.mu.Lock()
	f.snap = snap
	f.mu.Unlock()
}

// fakeNginx records what the controller asks of nginx.
type fakeNginx struct {
	// refuse, when set, plays nginx -t: an error it returns is the
	// TestError's output.
	refuse    func(conf []byte) string
	mu        sync.Mutex
	applied   []uint64
	verified  []uint64
	running   bool
	applyErr  error
	files     []nginx.File
	cleanKeep map[string]bool
}

// ApplyChange records the change. Like the driver, it runs BeforeReload
// only when "nginx -t" passed: applyErr is not a *nginx.TestError.
func (f *fakeNginx) ApplyChange(ctx context.Context, c nginx.Change) (nginx.Result, error) {
	f.mu.Lock()
	f.applied = append(f.applied, c.Generation)
	f.files = c.Files
	applyErr, running := f.applyErr, f.running
	f.mu.Unlock()
	if f.refuse != nil {
		if out := f.refuse(c.Conf); out != "" {
			applyErr = &nginx.TestError{Path: "nginx.conf", Output: out}
		}
	}
	var refused *nginx.TestError
	if errors.As(applyErr, &refused) {
		return nginx.Result{}, applyErr
	}
	if c.BeforeReload != nil {
		if err := c.BeforeReload(ctx); err != nil {
			return nginx.Result{}, err
		}
	}
	if applyErr != nil {
		return nginx.Result{}, applyErr
	}
	return nginx.Result{Signalled: running}, nil
}

func (f *fakeNginx) Verify(_ context.Context, gen uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verified = append(f.verified, gen)
	return nil
}

func (f *fakeNginx) CleanupFiles(_ string, keep map[string]bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanKeep = keep
	return nil
}

type events struct {
	mu  sync.Mutex
	all []reload.Event
}

func (e *events) Record(ev reload.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) list() []reload.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]reload.Event(nil), e.all...)
}

const ingressA = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: a}
spec:
  ingressClassName: portico
  rules:
  - host: a.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
`

const ingressB = `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: b}
spec:
  ingressClassName: portico
  rules:
  - host: b.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
`

func newTestController(t *testing.T, src *fakeSource, ngx *fakeNginx, rec *events, started *int) *Controller {
	t.Helper()
	opts := model.Options{ControllerClass: model.DefaultControllerClass, IngressClass: "portico",
		CertificateDir: "/certs", Global: model.DefaultGlobal()}
	opts.Global.DefaultCertificate = "/certs/default.pem"
	c, err := New(src, ngx, Options{
		Model:    opts,
		Recorder: rec,
		StartNginx: func() error {
			*started++
			ngx.mu.Lock()
			ngx.running = true
			ngx.mu.Unlock()
			return nil
		},
	})
	require.NoError(t, err)
	return c
}

func TestSyncStartsNginxOnceThenReloadsOnlyOnChange(t *testing.T) {
	src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
	started := 0
	src.set(t, ingressA)
	c := newTestController(t, src, ngx, rec, &started)
	ctx := context.Background()

	require.Error(t, c.Ready())
	require.NoError(t, c.Sync(ctx))
	require.NoError(t, c.Ready())
	assert.Equal(t, 1, started, "nginx starts after the first config is written")
	assert.Equal(t, []uint64{1}, ngx.verified, "the first generation is verified after start")
	require.Len(t, rec.list(), 1)
	first := rec.list()[0]
	assert.Equal(t, reload.ResultSuccess, first.Result)
	assert.Equal(t, []string{"_", "a.example.com"}, first.Changes.Added)
	assert.NotEmpty(t, first.ConfigHash)
	assert.Contains(t, string(c.LiveConfig()), "generation 1")

	require.NoError(t, c.Sync(ctx))
	assert.Len(t, rec.list(), 1, "unchanged objects must not reload")
	assert.Equal(t, []uint64{1}, ngx.applied)

	src.set(t, ingressA+ingressB)
	require.NoError(t, c.Sync(ctx))
	require.Len(t, rec.list(), 2)
	second := rec.list()[1]
	assert.Equal(t, uint64(2), second.Generation)
	assert.Equal(t, []string{"b.example.com"}, second.Changes.Added)
	assert.Equal(t, 1, started, "a running nginx is reloaded, not started again")
	assert.NotEqual(t, first.ConfigHash, second.ConfigHash)
}

func TestSyncRejectedConfigKeepsLiveOneAndIsNotRetried(t *testing.T) {
	src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
	started := 0
	src.set(t, ingressA)
	c := newTestController(t, src, ngx, rec, &started)
	ctx := context.Background()
	require.NoError(t, c.Sync(ctx))
	live := c.LiveConfig()

	src.set(t, ingressA+ingressB)
	ngx.applyErr = &nginx.TestError{Output: `unknown directive "bogus" in nginx.conf:3`}
	require.NoError(t, c.Sync(ctx))
	evs := rec.list()
	require.Len(t, evs, 2)
	assert.Equal(t, reload.ResultInvalid, evs[1].Result)
	assert.Contains(t, evs[1].Message, "bogus")
	assert.Equal(t, live, c.LiveConfig(), "the last good config stays live")
	assert.NoError(t, c.Ready(), "a rejected config does not make the controller unready")

	require.NoError(t, c.Sync(ctx))
	assert.Len(t, rec.list(), 2, "the same rejected config is not retried until something changes")

	ngx.applyErr = nil
	src.set(t, ingressB)
	require.NoError(t, c.Sync(ctx))
	require.Len(t, rec.list(), 3)
	assert.Equal(t, reload.ResultSuccess, rec.list()[2].Result)
}

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want reload.Result
	}{
		{nil, reload.ResultSuccess},
		{&nginx.TestError{Output: "x"}, reload.ResultInvalid},
		{&nginx.VerifyError{Generation: 3, Err: context.DeadlineExceeded}, reload.ResultTimeout},
		{&nginx.VerifyError{Generation: 3, Err: context.Canceled}, reload.ResultFailed},
		{errors.New("disk full"), reload.ResultFailed},
		{&nginx.TestTimeoutError{Command: "nginx -t", Timeout: time.Second}, reload.ResultTimeout},
		{fmt.Errorf("checking the Lua module: %w", &nginx.TestTimeoutError{Command: "nginx -t", Timeout: time.Second}), reload.ResultTimeout},
	}
	for _, c := range cases {
		got, _ := classify(c.err)
		assert.Equal(t, c.want, got, "%v", c.err)
	}
}

func TestSetTemplateRejectsBrokenTemplate(t *testing.T) {
	src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
	started := 0
	src.set(t, ingressA)
	c := newTestController(t, src, ngx, rec, &started)
	assert.Error(t, c.SetTemplate("{{ .Broken"))
	require.NoError(t, c.SetTemplate("# custom {{ .Generation }}\n"))
	require.NoError(t, c.Sync(context.Background()))
	assert.Equal(t, "# custom 1\n", string(c.LiveConfig()))
}

// TestHoldoffCoalescesBursts counts syncs, not time: 100 triggers spread
// over about a second must collapse into at most two syncs.
func TestHoldoffCoalescesBursts(t *testing.T) {
	h := newHoldoff(200*time.Millisecond, time.Second, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	syncs := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, ok := h.Wait(ctx); !ok {
				return
			}
			mu.Lock()
			syncs++
			mu.Unlock()
		}
	}()
	for range 100 {
		h.Trigger()
		time.Sleep(9 * time.Millisecond)
	}
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return syncs >= 1
	}, 5*time.Second, 10*time.Millisecond)
	// Let any pending burst settle (bounded), then count.
	time.Sleep(1200 * time.Millisecond)
	mu.Lock()
	got := syncs
	mu.Unlock()
	assert.LessOrEqual(t, got, 2, "100 changes within a second must give at most 2 syncs")
	cancel()
	<-done
}

// TestSyncRetriesAfterTimeout: a reload nginx did not confirm in time is
// retried without any change to the objects, unlike one nginx -t refused,
// after the rate limiter's backoff.
func TestSyncRetriesAfterTimeout(t *testing.T) {
	src, ngx, rec := &fakeSource{}, &fakeNginx{running: true}, &events{}
	started := 0
	src.set(t, ingressA)
	c := newTestController(t, src, ngx, rec, &started)
	c.opts.RetryDelay = 10 * time.Millisecond
	ngx.applyErr = &nginx.VerifyError{Generation: 1, Err: context.DeadlineExceeded}
	err := c.Sync(context.Background())
	require.Error(t, err, "a reload nginx did not confirm is worth a retry")
	require.Len(t, rec.list(), 1)
	assert.Equal(t, reload.ResultTimeout, rec.list()[0].Result)
	require.Error(t, c.Ready())
	c.retry(err)

	// The retry arrives as a trigger on the queue.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	full, ok := c.queue.Wait(ctx)
	require.True(t, ok, "a retry must be queued")
	assert.True(t, full, "a retry is a full sync")
	ngx.mu.Lock()
	ngx.applyErr = nil
	ngx.mu.Unlock()
	require.NoError(t, c.Sync(context.Background()))
	require.Len(t, rec.list(), 2)
	assert.Equal(t, reload.ResultSuccess, rec.list()[1].Result)
	assert.NoError(t, c.Ready())
}

// TestRetryBacksOff: failures in a row wait RetryDelay, doubled each time
// up to MaxRetryDelay; a success resets the backoff.
func TestRetryBacksOff(t *testing.T) {
	src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
	started := 0
	c := newTestController(t, src, ngx, rec, &started)
	c.retries = workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, 40*time.Millisecond)
	var waits []time.Duration
	for range 4 {
		waits = append(waits, c.retries.When(syncKey))
	}
	assert.Equal(t, []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}, waits)
	c.retry(nil)
	assert.Equal(t, 10*time.Millisecond, c.retries.When(syncKey), "a success starts over")

	// retry queues a full sync after the wait.
	c.retries.Forget(syncKey)
	c.retry(errors.New("push failed"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	full, ok := c.queue.Wait(ctx)
	require.True(t, ok)
	assert.True(t, full)
}

// TestRetryAfterHungTestWaitsOnlyTheHoldOff: a sync whose nginx -t ran past
// its deadline already waited that long; it is retried after the hold-off
// however many failed in a row, so a recovered nginx goes live within a
// hold-off. Other failures keep backing off.
func TestRetryAfterHungTestWaitsOnlyTheHoldOff(t *testing.T) {
	hung := fmt.Errorf("apply: %w", &nginx.TestTimeoutError{Command: "nginx -t -q -c x", Timeout: 30 * time.Second})
	tests := []struct {
		name string
		err  error
		// want is the wait before the 8th retry in a row.
		want time.Duration
	}{
		{name: "nginx -t hung", err: hung, want: 200 * time.Millisecond},
		{name: "reload not confirmed", err: &nginx.VerifyError{Generation: 1, Err: context.DeadlineExceeded}, want: 30 * time.Second},
		{name: "write failed", err: errors.New("read-only file system"), want: 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
			started := 0
			c := newTestController(t, src, ngx, rec, &started)
			c.opts.HoldOff = 200 * time.Millisecond
			var last time.Duration
			for range 8 {
				last = c.retryDelay(tt.err)
			}
			assert.Equal(t, tt.want, last)
		})
	}
}

// TestGenerationsCountFromTheRunsBase: a controller that takes over an
// nginx still serving the previous run's config must not verify its first
// reload against that config's number, so each run counts from its own
// base (the controller command passes its start time in milliseconds).
func TestGenerationsCountFromTheRunsBase(t *testing.T) {
	src, ngx := &fakeSource{}, &fakeNginx{running: true}
	src.set(t, ingressA)
	const base = 1_764_950_000_000
	c, err := New(src, ngx, Options{
		Model: model.Options{ControllerClass: model.DefaultControllerClass, IngressClass: "portico",
			CertificateDir: "/certs", Global: model.DefaultGlobal()},
		GenerationBase: base,
	})
	require.NoError(t, err)
	require.NoError(t, c.Sync(context.Background()))
	src.set(t, ingressA+ingressB)
	require.NoError(t, c.Sync(context.Background()))
	assert.Equal(t, []uint64{base + 1, base + 2}, ngx.applied)
	assert.Contains(t, string(c.LiveConfig()), fmt.Sprintf("generation %d", base+2))
}
