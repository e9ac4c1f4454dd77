package controller

import (
	"sync"
	"time"
)

// maxRecheckWait bounds the wait for a certificate's next expiry or
// warning instant: a build at least hourly while one is pending, so that a
// step of the wall clock (the timer counts monotonic time) is caught up
// within the hour.
const maxRecheckWait = time.Hour

// recheck is the one timer that syncs again when time alone changes what
// the model says about certificates (Config.RecheckAt), with no object
// changing: a certificate entering its warning window, or expiring.
type recheck struct {
	mu    sync.Mutex
	timer *time.Timer
	at    time.Time // what timer was set for
}

// recheckAt makes the next full sync come at at (capped at
// maxRecheckWait from now); zero cancels it.
func (c *Controller) recheckAt(at time.Time) {
	r := &c.recheck
	r.mu.Lock()
	defer r.mu.Unlock()
	if at.Equal(r.at) && r.timer != nil {
		return
	}
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	r.at = at
	if at.IsZero() {
		return
	}
	wait := min(max(at.Sub(c.now()), 0), maxRecheckWait)
	var t *time.Timer
	t = time.AfterFunc(wait, func() {
		r.mu.Lock()
		if r.timer == t { // not replaced meanwhile: the sync sets the next one
			r.timer, r.at = nil, time.Time{}
		}
		r.mu.Unlock()
		c.log.Debug("certificate expiry or warning instant reached; building again")
		c.queue.Trigger()
	})
	r.timer = t
}
