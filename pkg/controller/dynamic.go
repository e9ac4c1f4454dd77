package controller

// The Lua balancer's data: what the controller pushes to nginx instead of
// reloading it (endpoints, traffic policies), and how it keeps nginx's copy
// current.

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// DynamicStore holds the Lua balancer's data in nginx; *nginx.Dynamic implements it.
type DynamicStore interface {
	// Push stores body (JSON of model.Dynamic) and checks nginx holds exactly it.
	Push(ctx context.Context, body []byte) error
	// Held returns the md5 of what nginx holds, "" for nothing.
	Held(ctx context.Context) (string, error)
}

// PushRecorder receives one call per push of balancer data.
type PushRecorder interface {
	// Pushed reports a push: how long it took, its size, and its error.
	Pushed(took time.Duration, size int, err error)
}

// EndpointNotifier is a Source that can report EndpointSlice-only changes
// apart from the others (the Kubernetes source can).
type EndpointNotifier interface {
	// NotifyEndpoints makes the source call fn for EndpointSlice changes; called before Run.
	NotifyEndpoints(fn func())
}

// pushDynamic stores d in nginx unless nginx already holds it.
func (c *Controller) pushDynamic(ctx context.Context, d model.Dynamic) error {
	if c.opts.Dynamic == nil {
		return nil
	}
	body, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encoding balancer data: %w", err)
	}
	sum := nginx.Sum(body)
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	c.mu.Lock()
	same := sum == c.pushedSum
	c.mu.Unlock()
	if same {
		return nil
	}
	took, err := c.push(ctx, body)
	if err != nil {
		return err
	}
	c.log.Debug("balancer data pushed", "bytes", len(body), "backends", len(d.Backends), "routes", len(d.Routes),
		"took_ms", took.Milliseconds())
	c.mu.Lock()
	c.pushed, c.pushedBody, c.pushedSum = d, body, sum
	c.mu.Unlock()
	return nil
}

// NginxUp tells the controller that a new nginx master is up (restarted,
// or adopted): it holds none of the balancer data pushed to the one before
// (or only the copy it seeded itself with), so the data is pushed again at
// once rather than at the next DynamicCheck. It never blocks.
func (c *Controller) NginxUp() {
	select {
	case c.upNow <- struct{}{}:
	default: // a check is already due
	}
}

// keepDynamic re-pushes the balancer data when nginx no longer holds it: a
// restarted nginx (its container, or a crash) starts with empty shared
// memory and would answer 503 until the next change. It looks every
// DynamicCheck, and at once after NginxUp.
func (c *Controller) keepDynamic(ctx context.Context) {
	tick := time.NewTicker(c.opts.DynamicCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-c.upNow:
		}
		if held, err := c.repush(ctx); err != nil {
			c.log.Warn("nginx lost the balancer data and pushing it again failed", "error", err)
		} else if held != "" {
			c.log.Warn("nginx had lost the balancer data (restarted?); pushed it again", "held", held)
		}
	}
}

// repush pushes the last data again if nginx holds something else, and
// returns what nginx held then ("" when nothing was pushed). Holding pushMu
// throughout keeps a concurrent Sync from being overwritten with older data.
func (c *Controller) repush(ctx context.Context) (string, error) {
	c.pushMu.Lock()
	defer c.pushMu.Unlock()
	c.mu.Lock()
	body, sum, ready := c.pushedBody, c.pushedSum, c.liveCfg != nil
	c.mu.Unlock()
	if !ready || body == nil {
		return "", nil
	}
	held, err := c.opts.Dynamic.Held(ctx)
	if err != nil || held == sum {
		return "", nil // nginx unreachable is /healthz's business
	}
	_, err = c.push(ctx, body)
	if held == "" {
		held = "nothing"
	}
	return held, err
}

// syncEndpoints handles a burst of EndpointSlice-only changes, and new DNS
// answers for ExternalName Services: it reads the endpoints of the live
// configuration's pools again and pushes them, with
// no model build, no render and no reload (nginx.conf does not depend on
// endpoints with the Lua balancer). It reports false when a full sync is
// needed instead: no live configuration yet, or no Lua balancer.
func (c *Controller) syncEndpoints(ctx context.Context) (bool, error) {
	snap, err := c.source.Snapshot()
	if err != nil {
		return false, nil // the full sync reads the source again and says why
	}
	pushed, stale, err := c.pushEndpoints(ctx, c.withAnswers(snap))
	if stale {
		// Addresses were refused (or no longer are) since the last build:
		// its findings must say so, which takes a build.
		c.Trigger()
	}
	return pushed, err
}

// pushEndpoints pushes the live config's pools with their endpoints read
// from snap, and reports whether it could (Lua balancer, a config live),
// and whether the addresses refused differ from what the live config's
// findings say.
func (c *Controller) pushEndpoints(ctx context.Context, snap *snapshot.Snapshot) (pushed, stale bool, err error) {
	// liveCfg is nil until a config is live; the generation is read with
	// it, under one lock.
	c.mu.Lock()
	cfg, gen := c.liveCfg, c.servedGeneration
	c.mu.Unlock()
	if c.opts.Dynamic == nil || cfg == nil || cfg.Global.Balancer != model.BalancerLua {
		return false, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.SyncTimeout)
	defer cancel()
	d, stale := model.RefreshEndpoints(cfg, snap, c.opts.Model)
	d.Generation = gen
	if err := c.pushDynamic(ctx, d); err != nil {
		return true, stale, fmt.Errorf("pushing endpoints: %w", err)
	}
	return true, stale, nil
}

// dynamicAt returns cfg's balancer data for the config of generation gen.
func dynamicAt(cfg *model.Config, gen uint64) model.Dynamic {
	d := cfg.Dynamic()
	d.Generation = gen
	return d
}

// liveGeneration returns the generation of the config nginx serves.
func (c *Controller) liveGeneration() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servedGeneration
}

// BalancerData returns the Lua balancer's data last pushed to nginx (JSON),
// or nil: endpoints and routes, never key material.
func (c *Controller) BalancerData() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pushedBody
}

// push sends body to nginx and records the push; callers hold pushMu.
func (c *Controller) push(ctx context.Context, body []byte) (time.Duration, error) {
	start := c.now()
	err := c.opts.Dynamic.Push(ctx, body)
	took := c.now().Sub(start)
	if c.opts.Pushes != nil {
		c.opts.Pushes.Pushed(took, len(body), err)
	}
	return took, err
}
