package reload

import "sync"

// History keeps the last N reload events in memory for /debug/reloads, one
// entry per distinct outcome: retries that fail the same way share one.
// It is safe for concurrent use: the reload loop records while HTTP handlers read.
type History struct {
	mu     sync.Mutex
	events []Event // ring storage, len == capacity once full
	next   int     // index the next event is written to
	full   bool    // whether events has wrapped at least once
}

// NewHistory returns a History holding at most n events; n < 1 is treated as 1
// because a history that keeps nothing can only be a configuration mistake.
func NewHistory(n int) *History {
	if n < 1 {
		n = 1
	}
	return &History{events: make([]Event, n)}
}

// Record stores ev, dropping the oldest event once the history is full.
// A failed attempt that repeats the newest one (Event.SameFailure: a retry
// of the same configuration) is folded into it, which counts it and keeps
// the first and last times, so retries do not push out the history. The
// change lists are copied so later edits by the caller cannot alter history.
func (h *History) Record(ev Event) {
	ev.Changes = ev.Changes.clone()
	h.mu.Lock()
	defer h.mu.Unlock()
	if newest := (h.next - 1 + len(h.events)) % len(h.events); (h.next > 0 || h.full) && h.events[newest].SameFailure(ev) {
		h.events[newest] = h.events[newest].Fold(ev)
		return
	}
	h.events[h.next] = ev
	h.next++
	if h.next == len(h.events) {
		h.next = 0
		h.full = true
	}
}

// Recent returns the stored events, newest first. The slice is a fresh copy;
// the change lists inside are shared and must be treated as read-only.
func (h *History) Recent() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.next
	if h.full {
		n = len(h.events)
	}
	out := make([]Event, 0, n)
	for i := 1; i <= n; i++ {
		// Walk backwards from the last written slot, wrapping around.
		idx := (h.next - i + len(h.events)) % len(h.events)
		out = append(out, h.events[idx])
	}
	return out
}
