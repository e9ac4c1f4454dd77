package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
)

// fakeDynamic stands in for nginx's internal server: it keeps what was pushed.
type fakeDynamic struct {
	mu     sync.Mutex
	pushes []model.Dynamic
	held   string
}

func (f *fakeDynamic) Push(_ context.Context, body []byte) error {
	var d model.Dynamic
	if err := json.Unmarshal(body, &d); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushes = append(f.pushes, d)
	f.held = nginx.Sum(body)
	return nil
}

func (f *fakeDynamic) Held(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.held, nil
}

func (f *fakeDynamic) list() []model.Dynamic {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]model.Dynamic(nil), f.pushes...)
}

const appEndpoints = `
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: app-1, labels: {kubernetes.io/service-name: app}}
addressType: IPv4
ports: [{port: 8080}]
endpoints: [{addresses: [%s]}]
`

func withEndpoints(addrs string) string {
	return ingressA + fmt.Sprintf(appEndpoints, addrs)
}

// syncedLuaController is a controller with the Lua balancer that has made
// the Ingress with endpoint 198.18.0.1 live once.
func syncedLuaController(t *testing.T) (*fakeSource, *fakeNginx, *fakeDynamic, *Controller) {
	t.Helper()
	src, ngx, dyn := &fakeSource{}, &fakeNginx{}, &fakeDynamic{}
	src.set(t, withEndpoints("198.18.0.1"))
	started := 0
	c := newTestController(t, src, ngx, &events{}, &started)
	c.opts.Dynamic = dyn
	require.NoError(t, c.Sync(context.Background()))
	return src, ngx, dyn, c
}

// TestEndpointChangesArePushedWithoutReload: with the Lua balancer an
// EndpointSlice change is a push, both through a full sync (the config hash
// is unchanged) and through the endpoint-only path.
func TestEndpointChangesArePushedWithoutReload(t *testing.T) {
	src, ngx, dyn, c := syncedLuaController(t)
	ctx := context.Background()
	require.NoError(t, c.Ready())
	require.Len(t, ngx.applied, 1)
	pushes := dyn.list()
	require.Len(t, pushes, 1, "the first config is pushed after nginx starts")
	assert.Equal(t, []string{"198.18.0.1:8080"}, pushes[0].Backends["default.app.80"])

	// Full sync path: same nginx.conf, new endpoints.
	src.set(t, withEndpoints("198.18.0.2"))
	require.NoError(t, c.Sync(ctx))
	assert.Len(t, ngx.applied, 1, "an endpoint change must not reload")
	pushes = dyn.list()
	require.Len(t, pushes, 2)
	assert.Equal(t, []string{"198.18.0.2:8080"}, pushes[1].Backends["default.app.80"])

	// Endpoint-only path: no build, same result.
	src.set(t, withEndpoints("198.18.0.3"))
	require.True(t, syncedEndpoints(t, c, ctx))
	assert.Len(t, ngx.applied, 1)
	pushes = dyn.list()
	require.Len(t, pushes, 3)
	assert.Equal(t, []string{"198.18.0.3:8080"}, pushes[2].Backends["default.app.80"])
	assert.Equal(t, pushes[1].Routes, pushes[2].Routes)

	// Nothing changed: nothing pushed.
	require.True(t, syncedEndpoints(t, c, ctx))
	require.NoError(t, c.Sync(ctx))
	assert.Len(t, dyn.list(), 3)
}

// TestReloadPushesBothGenerations: while a reload is in flight the data
// holds the routes of the old config (for old workers) and of the new one,
// each under its generation, and the pools of both; after it, only the new.
func TestReloadPushesBothGenerations(t *testing.T) {
	src, ngx, dyn, c := syncedLuaController(t)
	ctx := context.Background()
	first := dyn.list()[0]
	assert.Equal(t, uint64(1), first.Generation)
	assert.Nil(t, first.Previous)

	// Ingress a moves to another host: nginx.conf changes, so this is a reload.
	src.set(t, strings.Replace(withEndpoints("198.18.0.1"), "a.example.com", "b.example.com", 1))
	require.NoError(t, c.Sync(ctx))
	require.Len(t, ngx.applied, 2)
	pushes := dyn.list()
	require.Len(t, pushes, 3, "both generations before the reload, the new one after")
	during, after := pushes[1], pushes[2]
	assert.Equal(t, uint64(2), during.Generation)
	require.NotNil(t, during.Previous)
	assert.Equal(t, uint64(1), during.Previous.Generation)
	assert.Equal(t, first.Routes, during.Previous.Routes, "old workers keep their routes")
	assert.Equal(t, after.Routes, during.Routes, "new workers find theirs before they start")
	assert.Equal(t, uint64(2), after.Generation)
	assert.Nil(t, after.Previous)
	for id := range first.Routes {
		assert.NotContains(t, after.Routes, id)
	}
}

// TestRestartedNginxGetsDataAgain: an nginx that lost its shared memory is
// given the last data again by the periodic check.
func TestRestartedNginxGetsDataAgain(t *testing.T) {
	_, _, dyn, c := syncedLuaController(t)
	require.Len(t, dyn.list(), 1)

	held, err := c.repush(context.Background())
	require.NoError(t, err)
	assert.Empty(t, held, "nginx holds the data: nothing to do")

	dyn.mu.Lock()
	dyn.held = "" // nginx restarted
	dyn.mu.Unlock()
	held, err = c.repush(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "nothing", held)
	require.Len(t, dyn.list(), 2)
	assert.Equal(t, dyn.list()[0], dyn.list()[1])
}

// TestNginxUpPushesAtOnce: when a new nginx master is up, the check runs
// at once instead of at the next DynamicCheck (an hour here).
func TestNginxUpPushesAtOnce(t *testing.T) {
	_, _, dyn, c := syncedLuaController(t)
	c.opts.DynamicCheck = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.keepDynamic(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	dyn.mu.Lock()
	dyn.held = "" // nginx restarted
	dyn.mu.Unlock()
	c.NginxUp()
	c.NginxUp() // never blocks, however often called
	require.Eventually(t, func() bool { return len(dyn.list()) == 2 }, 10*time.Second, time.Millisecond,
		"the data was pushed again without waiting for the hourly check")
	assert.Equal(t, dyn.list()[0], dyn.list()[1])
}

// TestEndpointBurstsWaitLess: a burst of endpoint-only changes settles after
// the short hold-off; a burst with any other change waits the full one.
func TestEndpointBurstsWaitLess(t *testing.T) {
	h := newHoldoff(time.Hour, time.Hour, time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h.TriggerEndpoints()
	h.TriggerEndpoints()
	full, ok := h.Wait(ctx)
	require.True(t, ok, "an endpoint burst must not wait the hour-long full hold-off")
	assert.False(t, full)

	h = newHoldoff(20*time.Millisecond, time.Second, time.Millisecond)
	h.TriggerEndpoints()
	h.Trigger()
	full, ok = h.Wait(ctx)
	require.True(t, ok)
	assert.True(t, full, "a burst with another change is a full sync")
}

// TestRejectedConfigDoesNotHoldBackEndpoints: while a change nginx -t
// refuses waits for a fix, endpoint changes still reach the live config.
func TestRejectedConfigDoesNotHoldBackEndpoints(t *testing.T) {
	src, ngx, dyn, c := syncedLuaController(t)
	ctx := context.Background()
	require.NoError(t, c.Ready())

	// A new host that nginx -t refuses (as if a snippet were broken).
	broken := strings.Replace(withEndpoints("198.18.0.1"), "a.example.com", "b.example.com", 1)
	ngx.mu.Lock()
	ngx.applyErr = &nginx.TestError{Path: "nginx.conf", Output: "refused"}
	ngx.mu.Unlock()
	src.set(t, broken)
	require.NoError(t, c.Sync(ctx))
	require.Len(t, ngx.applied, 2)

	// The same broken config with new endpoints: no new attempt, but a push.
	src.set(t, strings.Replace(broken, "198.18.0.1", "198.18.0.9", 1))
	require.NoError(t, c.Sync(ctx))
	assert.Len(t, ngx.applied, 2, "a refused config is not tried again until it changes")
	last := dyn.list()[len(dyn.list())-1]
	assert.Equal(t, []string{"198.18.0.9:8080"}, last.Backends["default.app.80"])
	assert.Equal(t, uint64(1), last.Generation, "for the config still live")
	assert.Nil(t, last.Previous)

	// Endpoint-only bursts too.
	src.set(t, strings.Replace(broken, "198.18.0.1", "198.18.0.7", 1))
	require.True(t, syncedEndpoints(t, c, ctx))
	last = dyn.list()[len(dyn.list())-1]
	assert.Equal(t, []string{"198.18.0.7:8080"}, last.Backends["default.app.80"])
}

// TestRejectedConfigPushesNothing: the routes of a config nginx -t refuses
// never reach nginx, however many are refused in a row; only the live
// config's data is pushed (issue 10, class 8: a removed canary took effect
// after two rejections).
func TestRejectedConfigPushesNothing(t *testing.T) {
	src, ngx, dyn, c := syncedLuaController(t)
	ctx := context.Background()
	require.NoError(t, c.Ready())
	ngx.mu.Lock()
	ngx.running = true
	ngx.applyErr = &nginx.TestError{Path: "nginx.conf", Output: "refused"}
	ngx.mu.Unlock()
	live := dyn.list()[0]
	for _, host := range []string{"b.example.com", "c.example.com", "d.example.com"} {
		src.set(t, strings.Replace(withEndpoints("198.18.0.1"), "a.example.com", host, 1))
		require.NoError(t, c.Sync(ctx))
	}
	require.Len(t, ngx.applied, 4, "three refused attempts")
	for i, d := range dyn.list() {
		assert.Equal(t, uint64(1), d.Generation, "push %d is for the live generation", i)
		assert.Nil(t, d.Previous, "push %d holds no other generation's routes", i)
		assert.Equal(t, live.Routes, d.Routes, "push %d", i)
	}

	// Accepted again: both generations while the reload is in flight.
	ngx.mu.Lock()
	ngx.applyErr = nil
	ngx.mu.Unlock()
	src.set(t, strings.Replace(withEndpoints("198.18.0.1"), "a.example.com", "e.example.com", 1))
	require.NoError(t, c.Sync(ctx))
	pushes := dyn.list()
	require.GreaterOrEqual(t, len(pushes), 3)
	during := pushes[len(pushes)-2]
	require.NotNil(t, during.Previous)
	assert.Equal(t, uint64(1), during.Previous.Generation)
	assert.Equal(t, uint64(5), during.Generation)
}

// TestFirstChangeAfterQuietIsFast: after a quiet period the first change
// waits only quietDelay, not the hold-off; a change already pending when
// Wait starts (it came during the last sync) waits the hold-off. The
// hold-off is 50 times quietDelay, so the bound below has a wide margin.
func TestFirstChangeAfterQuietIsFast(t *testing.T) {
	const holdOff = 50 * quietDelay
	h := newHoldoff(holdOff, time.Hour, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	triggered := make(chan time.Time, 1)
	go func() {
		time.Sleep(holdOff + 50*time.Millisecond) // quiet for longer than the hold-off
		triggered <- time.Now()
		h.Trigger()
	}()
	full, ok := h.Wait(ctx)
	require.True(t, ok)
	assert.True(t, full)
	assert.Less(t, time.Since(<-triggered), holdOff*4/5, "the first change after a quiet period must not wait the hold-off")

	h = newHoldoff(time.Hour, time.Hour, time.Hour)
	h.Trigger()
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	_, ok = h.Wait(short)
	assert.False(t, ok, "a pending change waits the full hold-off")
}

// findingsLog keeps the findings of the last build.
type findingsLog struct {
	mu   sync.Mutex
	last []model.Finding
}

func (f *findingsLog) Findings(all []model.Finding) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = all
}

func (f *findingsLog) reasons() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, fd := range f.last {
		out = append(out, fd.Reason)
	}
	return out
}

// TestRefusedEndpointAskForBuild: an EndpointSlice-only change that adds a
// loopback address is pushed without it, and asks for a full sync, whose
// build reports it; the next endpoint change with the same refusal asks
// for nothing more.
func TestRefusedEndpointAskForBuild(t *testing.T) {
	src, ngx, dyn, c := syncedLuaController(t)
	found := &findingsLog{}
	c.opts.Findings = found
	ctx := context.Background()

	src.set(t, withEndpoints("198.18.0.2, 127.0.0.1"))
	require.True(t, syncedEndpoints(t, c, ctx))
	pushes := dyn.list()
	assert.Equal(t, []string{"198.18.0.2:8080"}, pushes[len(pushes)-1].Backends["default.app.80"])
	assert.True(t, c.queue.take(), "a full sync is asked for, for the finding")

	require.NoError(t, c.Sync(ctx))
	assert.Equal(t, []string{model.ReasonBackendAddressRefused}, found.reasons())
	assert.Len(t, ngx.applied, 1, "the finding needs no reload")

	src.set(t, withEndpoints("198.18.0.3, 127.0.0.1"))
	require.True(t, syncedEndpoints(t, c, ctx))
	assert.False(t, c.queue.take(), "the live config's findings already say it")
}

// syncedEndpoints runs the endpoint-only sync, which must not fail, and
// reports whether it handled the change.
func syncedEndpoints(t *testing.T, c *Controller, ctx context.Context) bool {
	t.Helper()
	pushed, err := c.syncEndpoints(ctx)
	require.NoError(t, err)
	return pushed
}
