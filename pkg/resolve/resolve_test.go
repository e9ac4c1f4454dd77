package resolve_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/resolve"
)

// fakeDNS is a DNS server on 127.0.0.1 that answers A and AAAA queries
// from a table the test changes. It can also answer SERVFAIL, or not at
// all, for every name.
type fakeDNS struct {
	conn    *net.UDPConn
	queries atomic.Int64

	mu      sync.Mutex
	records map[string][]netip.Addr // by lower-case name with the final dot
	mode    string                  // "", "servfail" or "silent"
}

func startDNS(t *testing.T) *fakeDNS {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	f := &fakeDNS{conn: conn, records: map[string][]netip.Addr{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.serve()
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
	return f
}

func (f *fakeDNS) addr() netip.AddrPort { return f.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// set makes name answer with addrs (none: NXDOMAIN).
func (f *fakeDNS) set(name string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var list []netip.Addr
	for _, a := range addrs {
		list = append(list, netip.MustParseAddr(a))
	}
	f.records[name+"."] = list
}

func (f *fakeDNS) setMode(mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
}

func (f *fakeDNS) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := f.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		f.queries.Add(1)
		if reply := f.answer(buf[:n]); reply != nil {
			_, _ = f.conn.WriteToUDPAddrPort(reply, from)
		}
	}
}

// answer builds the reply to one query, or nil for none.
func (f *fakeDNS) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	f.mu.Lock()
	mode := f.mode
	addrs, known := f.records[strings.ToLower(q.Name.String())]
	f.mu.Unlock()
	rcode := dnsmessage.RCodeSuccess
	switch {
	case mode == "silent":
		return nil
	case mode == "servfail":
		rcode = dnsmessage.RCodeServerFailure
	case !known || len(addrs) == 0:
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	if err := b.StartQuestions(); err != nil {
		return nil
	}
	if err := b.Question(q); err != nil {
		return nil
	}
	if err := b.StartAnswers(); err != nil {
		return nil
	}
	if rcode == dnsmessage.RCodeSuccess {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}
		for _, a := range addrs {
			switch {
			case q.Type == dnsmessage.TypeA && a.Is4():
				hdr.Type = dnsmessage.TypeA
				err = b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
			case q.Type == dnsmessage.TypeAAAA && a.Is6():
				hdr.Type = dnsmessage.TypeAAAA
				err = b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
			if err != nil {
				return nil
			}
		}
	}
	msg, err := b.Finish()
	if err != nil {
		return nil
	}
	return msg
}

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
	dns := startDNS(t)
	dns.set("api.example.test", "198.18.7.2", "2001:db8::7", "198.18.7.1")
	dns.set("other.example.test", "203.0.113.9")
	r := resolve.New(resolve.Options{Servers: []netip.AddrPort{dns.addr()}, Interval: 50 * time.Millisecond})
	c := &changes{}
	run(t, r, c)

	r.Want([]string{"api.example.test", "other.example.test"})
	waitAnswer(t, r, "api.example.test", addrs("198.18.7.1", "198.18.7.2", "2001:db8::7"))
	waitAnswer(t, r, "other.example.test", addrs("203.0.113.9"))
	assert.Positive(t, c.n.Load())

	before := c.n.Load()
	dns.set("api.example.test", "198.18.7.3")
	waitAnswer(t, r, "api.example.test", addrs("198.18.7.3"))
	assert.Greater(t, c.n.Load(), before, "a change is reported")

	// The same answers again: nothing to report.
	quiet := c.n.Load()
	q := dns.queries.Load()
	require.Eventually(t, func() bool { return dns.queries.Load() > q+8 }, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, quiet, c.n.Load(), "unchanged answers are not reported")

	// A published map is never changed: callers keep it.
	kept := r.Answers()
	r.Want([]string{"api.example.test"})
	_, ok := r.Answers()["other.example.test"]
	assert.False(t, ok, "a name no longer wanted is forgotten")
	assert.Contains(t, kept, "other.example.test")

	// A name that no longer exists (NXDOMAIN) is an answer: none.
	dns.set("api.example.test")
	waitAnswer(t, r, "api.example.test", nil)
}

// TestResolveKeepsLastAnswerWhileServersFail: SERVFAIL and timeouts keep
// the last good answer, for MaxStale; after it the name has none. The
// second server is asked when the first fails.
func TestResolveKeepsLastAnswerWhileServersFail(t *testing.T) {
	dns := startDNS(t)
	dns.set("api.example.test", "198.18.7.1")
	now := &clock{t: time.Unix(1_000_000, 0)}
	r := resolve.New(resolve.Options{Servers: []netip.AddrPort{dns.addr()}, Interval: 20 * time.Millisecond,
		Timeout: 200 * time.Millisecond, MaxStale: time.Minute, Clock: now.now})
	c := &changes{}
	run(t, r, c)
	r.Want([]string{"api.example.test"})
	waitAnswer(t, r, "api.example.test", addrs("198.18.7.1"))

	for _, mode := range []string{"servfail", "silent"} {
		dns.setMode(mode)
		q := dns.queries.Load()
		require.Eventually(t, func() bool { return dns.queries.Load() > q+4 }, 5*time.Second, 5*time.Millisecond)
		assert.Equal(t, addrs("198.18.7.1"), r.Answers()["api.example.test"], "%s: the last answer keeps serving", mode)
	}
	// Past MaxStale without a good answer, the name has none.
	now.add(2 * time.Minute)
	waitAnswer(t, r, "api.example.test", nil)

	// A second server that answers is asked when the first does not.
	good := startDNS(t)
	good.set("api.example.test", "198.18.7.9")
	r2 := resolve.New(resolve.Options{Servers: []netip.AddrPort{dns.addr(), good.addr()}, Interval: time.Hour,
		Timeout: 2 * time.Second})
	run(t, r2, &changes{})
	dns.setMode("servfail")
	r2.Want([]string{"api.example.test"})
	waitAnswer(t, r2, "api.example.test", addrs("198.18.7.9"))
}

// TestResolveRebindingIsDropped: a name that turns to 127.0.0.1 (DNS
// rebinding) is not hidden behind the last good answer: the change is
// reported at once, and the address policy the model applies to every
// answer refuses it. nginx therefore never connects to it.
func TestResolveRebindingIsDropped(t *testing.T) {
	dns := startDNS(t)
	dns.set("rebind.example.test", "198.18.7.1")
	r := resolve.New(resolve.Options{Servers: []netip.AddrPort{dns.addr()}, Interval: 20 * time.Millisecond})
	c := &changes{}
	run(t, r, c)
	r.Want([]string{"rebind.example.test"})
	waitAnswer(t, r, "rebind.example.test", addrs("198.18.7.1"))
	before := c.n.Load()

	dns.set("rebind.example.test", "127.0.0.1", "::ffff:127.0.0.1", "169.254.169.254")
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
