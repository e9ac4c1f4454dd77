package controller

// The DNS names of ExternalName Services: the controller resolves them
// itself (pkg/resolve) and hands the answers to the model, which checks
// every one before nginx may connect to it. nginx resolving them per
// request would let a name be re-pointed at the controller's own Pod after
// it was checked (DNS rebinding).

import (
	"context"
	"errors"
	"net/netip"
	"slices"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// Resolver keeps the DNS names of ExternalName Services resolved;
// *resolve.Resolver implements it.
type Resolver interface {
	// Want sets the names to keep resolved; new ones are looked up at once.
	Want(names []string)
	// Answers returns the addresses by name; the map is never changed.
	Answers() map[string][]netip.Addr
	// Run resolves until ctx ends, calling changed after answers change.
	Run(ctx context.Context, changed func()) error
}

// runResolver runs the resolver, if any, until ctx ends.
func (c *Controller) runResolver(ctx context.Context) {
	if c.opts.Resolver == nil {
		return
	}
	if err := c.opts.Resolver.Run(ctx, c.answersChanged); err != nil && !errors.Is(err, context.Canceled) {
		c.log.Error("resolving ExternalName Services stopped", "error", err)
	}
}

// answersChanged asks for what new answers need: with the Lua balancer a
// push of the pools' endpoints (no build, no reload); with upstream blocks
// a full sync, since the addresses are in nginx.conf.
func (c *Controller) answersChanged() {
	if c.opts.Dynamic != nil {
		c.TriggerEndpoints()
		return
	}
	c.Trigger()
}

// withAnswers returns snap with the resolver's current answers: a copy, the
// source's snapshot stays as it was.
func (c *Controller) withAnswers(snap *snapshot.Snapshot) *snapshot.Snapshot {
	if c.opts.Resolver == nil {
		return snap
	}
	s := *snap
	s.Resolved = c.opts.Resolver.Answers()
	return &s
}

// wantNames tells the resolver the names cfg needs, and those of the live
// config: while a new config is refused (or not live yet) the live one
// keeps its pools, whose names must keep resolving.
func (c *Controller) wantNames(cfg *model.Config) {
	if c.opts.Resolver == nil {
		return
	}
	c.mu.Lock()
	live := c.liveCfg
	c.mu.Unlock()
	names := cfg.ExternalNames()
	if live != nil && live != cfg {
		names = append(names, live.ExternalNames()...)
		slices.Sort(names)
		names = slices.Compact(names)
	}
	c.opts.Resolver.Want(names)
}
