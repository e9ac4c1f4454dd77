package resolve_test

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/resolve"
	"github.com/portico-ingress/portico/pkg/testutil/dnstest"
)

// changes counts the resolver's change callbacks.
type changes struct{ n atomic.Int64 }

func (c *changes) changed() { c.n.Add(1) }

// run starts r until the test ends.
func run(t *testing.T, r *resolve.Resolver, c *changes) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, c.changed) }()
	t.Cleanup(func() {
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
	})
}

func addrs(list ...string) []netip.Addr {
	out := []netip.Addr{}
	for _, a := range list {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// waitAnswer waits until name's answer is want (nil: no answer).
func waitAnswer(t *testing.T, r *resolve.Resolver, name string, want []netip.Addr) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		got, ok := r.Answers()[name]
		if want == nil {
			assert.False(ct, ok, "%s still answers %v", name, got)
			return
		}
		assert.Equal(ct, want, got)
	}, 5*time.Second, 5*time.Millisecond)
}

// TestResolveAnswersAndChanges: wanted names are looked up at once, A and
// AAAA together, sorted; a changed record is seen at the next interval and
// reported; a name no longer wanted is forgotten.
func TestResolveAnswersAndChanges(t *testing.T) {
	dns := dnstest.Start(t)
	dns.Set("api.example.test", "198.18.7.2", "2001:db8::7", "198.18.7.1")
	dns.Set("other.example.test", "203.0.113.9")
	r := resolve.New(resolve.Options{Servers: []netip.AddrPort{dns.Addr()}, Interval: 50 * time.Millisecond})
	c := &changes{}
	run(t, r, c)

	r.Want([]string{"api.example.test", "other.example.test"})
	waitAnswer(t, r, "api.example.test", addrs("198.18.7.1", "198.18.7.2", "2001:db8::7"))
	waitAnswer(t, r, "other.example.test", addrs("203.0.113.9"))
	assert.Positive(t, c.n.Load())

	before := c.n.Load()
	dns.Set("api.example.test", "198.18.7.3")
	waitAnswer(t, r, "api.example.test", addrs("198.18.7.3"))
	assert.Greater(t, c.n.Load(), before, "a change is reported")

	// The same answers again: nothing to report.
	quiet := c.n.Load()
	q := dns.Queries()
	require.Eventually(t, func() bool { return dns.Queries() > q+8 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, quiet, c.n.Load(), "unchanged answers are not reported")

	// A published map is never changed: callers keep it.
	kept := r.Answers()
	r.Want([]string{"api.example.test"})
	_, ok := r.Answers()["other.example.test"]
	assert.False(t, ok, "a name no longer wanted is forgotten")
	assert.Contains(t, kept, "other.example.test")

	// A name that no longer exists (NXDOMAIN) is an answer: none.
	dns.Set("api.example.test")
	waitAnswer(t, r, "api.example.test", nil)
}

// TestResolveKeepsLastAnswerWhileServersFail: SERVFAIL and timeouts keep
// the last good answer, for MaxStale; after it the name has none. The
// second server is asked when the first fails.
func TestResolveKeepsLastAnswerWhileServersFail(t *testing.T) {
	dns := dnstest.Start(t)
	dns.Set("api.example.test", "198.18.7.1")
	now := &clock{t: time.Unix(1_000_000, 0)}
	r := resolve.New(resolve.Options{Servers: []netip.AddrPort{dns.Addr()}, Interval: 20 * time.Millisecond,
		Timeout: 200 * time.Millisecond, MaxStale: time.Minute, Clock: now.now})
	c := &changes{}
	run(t, r, c)
	r.Want([]string{"api.example.test"})
	waitAnswer(t, r, "api.example.test", addrs("198.18.7.1"))

	for _, mode := range []string{dnstest.ServFail, dnstest.Silent} {
		dns.SetMode(mode)
		q := dns.Queries()
		require.Eventually(t, func() bool { return dns.Queries() > q+4 }, 5*time.Second, 5*time.Millisecond)
		assert.Equal(t, addrs("198.18.7.1"), r.Answers()["api.example.test"], "%s: the last answer keeps serving", mode)
	}
	// Past MaxStale without a good answer, the name has none.
	now.add(2 * time.Minute)
	waitAnswer(t, r, "api.example.test", nil)

	// A second server that answers is asked when the first does not.
	good := dnstest.Start(t)
	good.Set("api.example.test", "198.18.7.9")
	r2 := resolve.New(resolve.Options{Servers: []netip.AddrPort{dns.Addr(), good.Addr()}, Interval: time.Hour,
		Timeout: 2 * time.Second})
	run(t, r2, &changes{})
	dns.SetMode(dnstest.ServFail)
	r2.Want([]string{"api.example.test"})
	waitAnswer(t, r2, "api.example.test", addrs("198.18.7.9"))
}

// TestResolveRebindingIsDropped: a name that turns to 127.0.0.1 (DNS
// rebinding) is not hidden behind the last good answer: the change is
// reported at once, and the address policy the model applies to every
// answer refuses it. nginx therefore never connects to it.
func TestResolveRebindingIsDropped(t *testing.T) {
	dns := dnstest.Start(t)
	dns.Set("rebind.example.test", "198.18.7.1")
	r := resolve.New(resolve.Options{Servers: []netip.AddrPort{dns.Addr()}, Interval: 20 * time.Millisecond})
	c := &changes{}
	run(t, r, c)
	r.Want([]string{"rebind.example.test"})
	waitAnswer(t, r, "rebind.example.test", addrs("198.18.7.1"))
	before := c.n.Load()

	dns.Set("rebind.example.test", "127.0.0.1", "::ffff:127.0.0.1", "169.254.169.254")
	waitAnswer(t, r, "rebind.example.test", addrs("127.0.0.1", "169.254.169.254", "::ffff:127.0.0.1"))
	assert.Greater(t, c.n.Load(), before)
	var policy model.AddressPolicy
	for _, a := range r.Answers()["rebind.example.test"] {
		assert.NotEmpty(t, policy.Refusal(a, 443), "%s must be refused", a)
	}
}

// TestResolveWithoutServers: no server is a failure (logged), not a panic,
// and no answer.
func TestResolveWithoutServers(t *testing.T) {
	r := resolve.New(resolve.Options{Interval: 10 * time.Millisecond})
	run(t, r, &changes{})
	r.Want([]string{"api.example.test"})
	time.Sleep(50 * time.Millisecond)
	assert.Empty(t, r.Answers())
}

// clock is a settable time for MaxStale.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
