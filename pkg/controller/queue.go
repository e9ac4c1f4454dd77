package controller

import (
	"context"
	"time"
)

// holdoff coalesces bursts of change notifications into few syncs, the way
// Contour's HoldoffDelay/HoldoffMaxDelay do: a sync starts once no change
// arrived for delay, but never later than maxDelay after the first change of
// the burst. Every notification is the same key, so bursts collapse and at
// most one sync runs at a time.
type holdoff struct {
	delay    time.Duration
	maxDelay time.Duration
	notify   chan struct{}
}

func newHoldoff(delay, maxDelay time.Duration) *holdoff {
	if maxDelay < delay {
		maxDelay = delay
	}
	return &holdoff{delay: delay, maxDelay: maxDelay, notify: make(chan struct{}, 1)}
}

// Trigger records that something changed. It never blocks.
func (h *holdoff) Trigger() {
	select {
	case h.notify <- struct{}{}:
	default: // a notification is already pending; this one joins it
	}
}

// Wait blocks until a burst of changes has settled, returning false when ctx ends.
func (h *holdoff) Wait(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return false
	case <-h.notify:
	}
	deadline := time.Now().Add(h.maxDelay)
	timer := time.NewTimer(h.delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-h.notify:
			wait := min(h.delay, time.Until(deadline))
			if wait <= 0 {
				return true
			}
			timer.Reset(wait)
		case <-timer.C:
			return true
		}
	}
}
