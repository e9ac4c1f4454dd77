package controller

import (
	"context"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
)

// fakeResolver hands out answers the test sets and records the names wanted.
type fakeResolver struct {
	mu      sync.Mutex
	wanted  []string
	answers map[string][]netip.Addr
}

func (f *fakeResolver) Want(names []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.wanted = names
}

func (f *fakeResolver) Answers() map[string][]netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answers
}

func (f *fakeResolver) Run(ctx context.Context, _ func()) error {
	<-ctx.Done()
	return ctx.Err()
}

// set replaces the answers with a new map, as the resolver does.
func (f *fakeResolver) set(name string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := map[string][]netip.Addr{}
	for k, v := range f.answers {
		next[k] = v
	}
	var list []netip.Addr
	for _, a := range addrs {
		list = append(list, netip.MustParseAddr(a))
	}
	next[name] = list
	f.answers = next
}

func (f *fakeResolver) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wanted
}

const externalApp = ingressA + `
---
apiVersion: v1
kind: Service
metadata: {name: app}
spec: {type: ExternalName, externalName: App.Example.NET., ports: [{port: 80}]}
`

// TestExternalNameAnswersArePushed: the controller tells the resolver the
// names the config needs, builds with its answers, and pushes new answers
// without a reload; an answer that turns to loopback is dropped from the
// push and, through a build, reported.
func TestExternalNameAnswersArePushed(t *testing.T) {
	src, ngx, dyn := &fakeSource{}, &fakeNginx{}, &fakeDynamic{}
	src.set(t, externalApp)
	started := 0
	c := newTestController(t, src, ngx, &events{}, &started)
	res := &fakeResolver{}
	found := &findingsLog{}
	c.opts.Dynamic, c.opts.Resolver, c.opts.Findings = dyn, res, found
	c.opts.Model.Global.Resolvers = []string{"127.0.0.1"}
	ctx := context.Background()

	require.NoError(t, c.Sync(ctx))
	require.NoError(t, c.Ready())
	assert.Equal(t, []string{"app.example.net"}, res.names())
	assert.Equal(t, []string{}, dyn.list()[0].Backends["default.app.80"], "no answer yet: 503 from the balancer")

	res.set("app.example.net", "198.18.3.1", "198.18.3.2")
	c.answersChanged()
	assert.False(t, c.queue.take(), "with the Lua balancer new answers are a push, not a build")
	require.True(t, syncedEndpoints(t, c, ctx))
	pushes := dyn.list()
	assert.Equal(t, []string{"198.18.3.1:80", "198.18.3.2:80"}, pushes[len(pushes)-1].Backends["default.app.80"])
	assert.Len(t, ngx.applied, 1, "no reload")

	// DNS rebinding: the name turns to loopback.
	res.set("app.example.net", "127.0.0.1", "198.18.3.2")
	require.True(t, syncedEndpoints(t, c, ctx))
	pushes = dyn.list()
	assert.Equal(t, []string{"198.18.3.2:80"}, pushes[len(pushes)-1].Backends["default.app.80"])
	assert.True(t, c.queue.take(), "the refusal asks for a build, for its finding")
	require.NoError(t, c.Sync(ctx))
	assert.Equal(t, []string{model.ReasonBackendAddressRefused}, found.reasons())
	assert.Len(t, ngx.applied, 1, "still no reload")

	// The Ingress moves to another Service: the name is no longer wanted
	// once the new config is live.
	src.set(t, withEndpoints("198.18.0.1"))
	require.NoError(t, c.Sync(ctx))
	assert.Empty(t, res.names())
}

// TestExternalNameAnswersReloadUpstreams: with upstream blocks the
// addresses are in nginx.conf, so new answers ask for a full sync, which
// reloads.
func TestExternalNameAnswersReloadUpstreams(t *testing.T) {
	src, ngx := &fakeSource{}, &fakeNginx{}
	src.set(t, externalApp)
	started := 0
	c := newTestController(t, src, ngx, &events{}, &started)
	res := &fakeResolver{}
	c.opts.Resolver = res
	c.opts.Model.Global.Balancer = model.BalancerUpstreams
	ctx := context.Background()

	require.NoError(t, c.Sync(ctx))
	require.NoError(t, c.Ready())
	assert.Equal(t, []string{"app.example.net"}, res.names(), "wanted while it has no answer, though no pool is printed")
	assert.NotContains(t, string(c.LiveConfig()), "198.18.3.1")

	res.set("app.example.net", "198.18.3.1")
	c.answersChanged()
	assert.True(t, c.queue.take(), "a full sync")
	require.NoError(t, c.Sync(ctx))
	assert.Len(t, ngx.applied, 2, "a reload")
	assert.Contains(t, string(c.LiveConfig()), `server "198.18.3.1:80"`)
}
