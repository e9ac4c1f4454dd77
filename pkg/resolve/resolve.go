// Package resolve keeps a set of DNS names resolved for the controller:
// the names of ExternalName Services. If nginx resolved them itself at
// request time, a name checked once could be pointed at 127.0.0.1 later
// (DNS rebinding) and reach the controller's own Pod; so the controller
// resolves them, the model checks every answer (model.AddressPolicy), and
// nginx connects only to addresses that passed.
package resolve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Defaults of Options.
const (
	// DefaultInterval is how often every name is looked up again; nginx's
	// resolver kept answers this long (valid=30s) before.
	DefaultInterval = 30 * time.Second
	// DefaultTimeout bounds one lookup of one name, all servers together.
	DefaultTimeout = 5 * time.Second
	// DefaultMaxStale is how long the last good answer keeps serving while
	// lookups fail (the DNS servers down or unreachable): long enough to
	// ride out a DNS outage, short enough that a name nobody can resolve
	// any more stops being served.
	DefaultMaxStale = 10 * time.Minute
	// DefaultConcurrency is how many lookups run at once.
	DefaultConcurrency = 8
	// DefaultMaxAddresses bounds the addresses kept per name: a DNS server
	// may answer with thousands (over TCP), and every one becomes an
	// endpoint pushed to nginx.
	DefaultMaxAddresses = 64
)

// Options configures a Resolver.
type Options struct {
	// Servers are the DNS servers asked, in order: the next one is asked
	// when one fails. A server without a port is on port 53.
	Servers []netip.AddrPort
	// Interval is how often every name is looked up again; 0 means DefaultInterval.
	Interval time.Duration
	// Timeout bounds one lookup of one name; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxStale is how long the last good answer is kept while lookups
	// fail; 0 means DefaultMaxStale.
	MaxStale time.Duration
	// Concurrency is how many lookups run at once; 0 means DefaultConcurrency.
	Concurrency int
	// MaxAddresses is how many addresses are kept per name (the lowest);
	// 0 means DefaultMaxAddresses.
	MaxAddresses int
	// Logger receives lookup failures and recoveries; nil discards them.
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Resolver resolves the names it is told to want, every Interval, and
// reports when an answer changes. Create it with New, start it with Run.
type Resolver struct {
	opts    Options
	servers []*net.Resolver // one per Options.Servers, in order
	log     *slog.Logger
	now     func() time.Time
	wake    chan struct{}

	mu     sync.Mutex
	names  map[string]*name
	answer map[string][]netip.Addr // published: replaced, never changed
}

// name is what the resolver knows of one wanted name.
type name struct {
	addrs   []netip.Addr // the answer in use, sorted; nil: none
	good    time.Time    // when addrs were last confirmed
	done    bool         // looked up at least once
	failing bool         // the last lookup failed
}

// New returns a resolver for opts; Run starts it.
func New(opts Options) *Resolver {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxStale <= 0 {
		opts.MaxStale = DefaultMaxStale
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.MaxAddresses <= 0 {
		opts.MaxAddresses = DefaultMaxAddresses
	}
	r := &Resolver{
		opts:   opts,
		log:    opts.Logger,
		now:    opts.Clock,
		wake:   make(chan struct{}, 1),
		names:  map[string]*name{},
		answer: map[string][]netip.Addr{},
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	for _, s := range opts.Servers {
		if s.Port() == 0 {
			s = netip.AddrPortFrom(s.Addr(), 53)
		}
		r.servers = append(r.servers, serverResolver(s.String()))
	}
	return r
}

// serverResolver is Go's own resolver with every query sent to server:
// never the C library's, never another server from /etc/resolv.conf.
func serverResolver(server string) *net.Resolver {
	var d net.Dialer
	return &net.Resolver{
		PreferGo: true,
		// A lookup whose A or AAAA query failed fails whole, and the last
		// good answer stays: half an answer would drop addresses that are
		// still there.
		StrictErrors: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, server)
		},
	}
}

// Want sets the names to keep resolved. New ones are looked up at once
// (Run must be running); answers of names no longer wanted are dropped.
// Names are absolute, lower-case DNS names without the final dot.
func (r *Resolver) Want(names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	wanted := make(map[string]bool, len(names))
	fresh := false
	for _, n := range names {
		wanted[n] = true
		if _, ok := r.names[n]; !ok {
			r.names[n] = &name{}
			fresh = true
		}
	}
	dropped := false
	for n := range r.names {
		if !wanted[n] {
			delete(r.names, n)
			dropped = true
		}
	}
	if dropped {
		r.publishLocked()
	}
	if fresh {
		select {
		case r.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	}
}

// Answers returns the addresses of every wanted name that has some, sorted.
// The map is replaced, never changed, when answers change: callers may keep
// it, and must not modify it.
func (r *Resolver) Answers() map[string][]netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answer
}

// Run looks names up until ctx ends: new names as soon as they are wanted,
// every name each Interval. changed is called after answers changed.
func (r *Resolver) Run(ctx context.Context, changed func()) error {
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.wake:
			r.round(ctx, false, changed)
		case <-tick.C:
			r.round(ctx, true, changed)
		}
	}
}

// round looks up the names not looked up yet, or all of them, with at
// most Concurrency lookups at once, and publishes the answers.
func (r *Resolver) round(ctx context.Context, all bool, changed func()) {
	r.mu.Lock()
	var todo []string
	for n, st := range r.names {
		if all || !st.done {
			todo = append(todo, n)
		}
	}
	r.mu.Unlock()
	slices.Sort(todo) // deterministic logs and order of queries
	type result struct {
		addrs []netip.Addr
		err   error
	}
	results := make([]result, len(todo))
	sem := make(chan struct{}, r.opts.Concurrency)
	var wg sync.WaitGroup
	for i, n := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			addrs, err := r.lookup(ctx, n)
			results[i] = result{addrs, err}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // shutting down: a cancelled lookup says nothing about the name
	}

	now := r.now()
	r.mu.Lock()
	differs := false
	for i, n := range todo {
		st, ok := r.names[n]
		if !ok {
			continue // no longer wanted
		}
		st.done = true
		res := results[i]
		if res.err == nil {
			if st.failing {
				r.log.Info("name resolves again", "name", n, "addresses", len(res.addrs))
			}
			st.failing, st.good = false, now
			differs = differs || !slices.Equal(st.addrs, res.addrs)
			st.addrs = res.addrs
			continue
		}
		if !st.failing {
			r.log.Warn("looking up a name failed; its last answer keeps serving",
				"name", n, "max_stale", r.opts.MaxStale, "error", res.err)
		}
		st.failing = true
		if len(st.addrs) > 0 && now.Sub(st.good) > r.opts.MaxStale {
			r.log.Warn("a name has not resolved for too long; its backends get 503", "name", n,
				"since", st.good.Format(time.RFC3339))
			st.addrs = nil
			differs = true
		}
	}
	if differs {
		r.publishLocked()
	}
	r.mu.Unlock()
	if differs && changed != nil {
		changed()
	}
}

// publishLocked replaces the published answers with the current ones.
func (r *Resolver) publishLocked() {
	next := make(map[string][]netip.Addr, len(r.names))
	for n, st := range r.names {
		if len(st.addrs) > 0 {
			next[n] = st.addrs
		}
	}
	if !maps.EqualFunc(next, r.answer, slices.Equal) {
		r.answer = next
	}
}

// lookup asks the servers in order for name's A and AAAA records. A name
// that does not exist, or has no address, is an answer (none), not a
// failure: its owner removed it.
func (r *Resolver) lookup(ctx context.Context, n string) ([]netip.Addr, error) {
	if len(r.servers) == 0 {
		return nil, errors.New("no DNS server configured (--resolver)")
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	var errs []error
	for i, res := range r.servers {
		// The final dot makes the name absolute: no search domains, as
		// nginx's resolver did.
		addrs, err := res.LookupNetIP(ctx, "ip", n+".")
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return []netip.Addr{}, nil
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("server %s: %w", r.opts.Servers[i], err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return r.normalize(addrs), nil
	}
	return nil, fmt.Errorf("looking up %s: %w", n, errors.Join(errs...))
}

// normalize sorts and de-duplicates an answer, without zones, and keeps
// the first MaxAddresses.
func (r *Resolver) normalize(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.WithZone(""))
	}
	slices.SortFunc(out, netip.Addr.Compare)
	out = slices.Compact(out)
	if len(out) > r.opts.MaxAddresses {
		out = out[:r.opts.MaxAddresses]
	}
	return out
}
