package nginx

import "time"

// restartPolicy decides how long the supervisor waits before it starts
// nginx again after the master exited. One crash is restarted at once:
// every millisecond of waiting is an outage, since nothing listens. Only a
// master that keeps dying soon after it started (a port taken, a file
// gone: it would fail again right away) is backed off, so that a loop
// costs neither the CPU nor the log; a run that lasted stableAfter ends
// the loop.
type restartPolicy struct {
	// quick is how many short runs in a row are restarted without waiting.
	quick int
	// first is the wait after quick short runs in a row; it doubles with
	// each further one, up to max.
	first time.Duration
	// max caps the wait.
	max time.Duration
	// stableAfter is how long a run must last to count as healthy.
	stableAfter time.Duration

	// short is the number of short runs in a row, this one included.
	short int
}

// next returns the wait before the next start of a master that started at
// started and exited at exited.
func (p *restartPolicy) next(started, exited time.Time) time.Duration {
	if exited.Sub(started) >= p.stableAfter {
		p.short = 0
	}
	p.short++
	if p.short <= p.quick {
		return 0
	}
	wait := p.first
	for i := p.quick + 1; i < p.short && wait < p.max; i++ {
		wait *= 2
	}
	return min(wait, p.max)
}

// afterFailedStart returns the wait after nginx could not even be
// executed (a missing binary): as for a run that ended at once.
func (p *restartPolicy) afterFailedStart(now time.Time) time.Duration {
	return p.next(now, now)
}
