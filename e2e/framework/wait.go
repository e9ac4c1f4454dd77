//go:build linux

package framework

import (
	"fmt"
	"testing"
	"time"
)

// Bounds for the waits of the suites. They are generous for a loaded
// 2-core machine running a suite with -race; a healthy run stays far below.
const (
	// ReadyTimeout bounds a controller's start until /readyz answers 200.
	ReadyTimeout = 30 * time.Second
	// ReloadTimeout bounds a change until its reload event shows.
	ReloadTimeout = 20 * time.Second
	// RouteTimeout bounds a change until the routing is as expected.
	RouteTimeout = 20 * time.Second
	// PollInterval is the pause between two looks while waiting.
	PollInterval = 25 * time.Millisecond
	// StopTimeout bounds SIGTERM until a child exits.
	StopTimeout = 20 * time.Second
	// KillTimeout bounds SIGKILL until a child is reaped.
	KillTimeout = 10 * time.Second
	// GoneTimeout bounds a controller's exit until its nginx is gone.
	GoneTimeout = 10 * time.Second
)

// Poll calls f every interval until it returns nil, the timeout passes, or
// p dies (nil: no process to watch); the error says which, with f's last.
func Poll(timeout, interval time.Duration, p *Process, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if p != nil && !p.Alive() {
			return fmt.Errorf("%s exited (%v); last error: %w", p.Name, p.Err(), err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}

// Eventually retries cond every PollInterval until it returns true, and
// fails the test if it has not within RouteTimeout.
func Eventually(t testing.TB, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	EventuallyWithin(t, RouteTimeout, cond, msgAndArgs...)
}

// EventuallyWithin is Eventually with its own bound.
func EventuallyWithin(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			msg := "condition not met"
			if len(msgAndArgs) > 0 {
				if format, ok := msgAndArgs[0].(string); ok {
					msg = fmt.Sprintf(format, msgAndArgs[1:]...)
				}
			}
			t.Fatalf("%s within %s", msg, timeout)
		}
		time.Sleep(PollInterval)
	}
}
