package controller

import (
	"context"
	"sync"
	"time"
)

// holdoff coalesces bursts of change notifications into few syncs, the way
// Contour's HoldoffDelay/HoldoffMaxDelay do: a sync starts once no change
// arrived for delay, but never later than maxDelay after the first change of
// the burst. Every notification is the same key, so bursts collapse and at
// most one sync runs at a time.
//
// The first change after a quiet period (no change for delay) waits only
// quietDelay, as Traefik's throttling does: a lone edit goes live 200 ms
// sooner, and what follows it within the hold-off still coalesces. The
// short wait still catches objects applied together (a Service and its
// Ingress), which arrive within milliseconds.
//
// Endpoint-only changes (TriggerEndpoints) wait only fastDelay: with the
// Lua balancer they cost a push, not a reload, so there is no storm to
// prevent, and Pod churn should reach nginx within tens of milliseconds. A
// burst with any other change waits the full delay.
// quietDelay is the wait for the first change after a quiet period.
const quietDelay = 10 * time.Millisecond

type holdoff struct {
	delay     time.Duration
	maxDelay  time.Duration
	fastDelay time.Duration
	notify    chan struct{}

	mu sync.Mutex
	// full is set by a change other than endpoints until Wait returns it.
	full bool
}

func newHoldoff(delay, maxDelay, fastDelay time.Duration) *holdoff {
	if maxDelay < delay {
		maxDelay = delay
	}
	fastDelay = min(fastDelay, delay)
	return &holdoff{delay: delay, maxDelay: maxDelay, fastDelay: fastDelay, notify: make(chan struct{}, 1)}
}

// Trigger records that something changed. It never blocks.
func (h *holdoff) Trigger() {
	h.mu.Lock()
	h.full = true
	h.mu.Unlock()
	h.wake()
}

// TriggerAfter records a change after delay: a retry (Controller.retry).
// A change meanwhile starts the sync sooner and the retry then joins a
// later burst, which is harmless: it is one more full sync.
func (h *holdoff) TriggerAfter(delay time.Duration) {
	time.AfterFunc(delay, h.Trigger)
}

// TriggerEndpoints records that only endpoints changed. It never blocks.
func (h *holdoff) TriggerEndpoints() { h.wake() }

func (h *holdoff) wake() {
	select {
	case h.notify <- struct{}{}:
	default: // a notification is already pending; this one joins it
	}
}

func (h *holdoff) pendingFull() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.full
}

// Wait blocks until a burst of changes has settled. It returns whether the
// burst held any change other than endpoints, and false for ok when ctx ends.
func (h *holdoff) Wait(ctx context.Context) (full, ok bool) {
	quietSince := time.Now()
	pending := false
	select {
	case <-h.notify:
		pending = true // changes arrived during the last sync: a burst
	default:
	}
	if !pending {
		select {
		case <-ctx.Done():
			return false, false
		case <-h.notify:
		}
	}
	delay := h.fastDelay
	if h.pendingFull() {
		delay = h.delay
		if !pending && time.Since(quietSince) >= h.delay {
			delay = min(quietDelay, h.delay)
		}
	}
	deadline := time.Now().Add(h.maxDelay)
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, false
		case <-h.notify:
			if h.pendingFull() {
				delay = h.delay
			}
			wait := min(delay, time.Until(deadline))
			if wait <= 0 {
				return h.take(), true
			}
			timer.Reset(wait)
		case <-timer.C:
			return h.take(), true
		}
	}
}

// take returns and clears the full flag: the sync about to run covers it.
func (h *holdoff) take() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	full := h.full
	h.full = false
	return full
}
