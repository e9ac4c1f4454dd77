package nginx

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestRestartPolicy feeds the policy runs (how long each master lasted
// before it exited) on a made-up clock and checks the wait before each
// restart.
func TestRestartPolicy(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name  string
		runs  []time.Duration // how long each master ran, in order
		waits []time.Duration // the wait after each exit
	}{
		{
			name:  "one crash after a long run is restarted at once",
			runs:  []time.Duration{time.Hour},
			waits: []time.Duration{0},
		},
		{
			name:  "crashes a few seconds apart are each restarted at once",
			runs:  []time.Duration{time.Hour, 5 * time.Second, 6 * time.Second, 10 * time.Second, 5 * time.Second},
			waits: []time.Duration{0, 0, 0, 0, 0},
		},
		{
			name: "a master that dies at once backs off, doubling up to the cap",
			runs: []time.Duration{10 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms, 10 * ms},
			waits: []time.Duration{0, 0, 250 * ms, 500 * ms, time.Second, 2 * time.Second, 4 * time.Second,
				5 * time.Second, 5 * time.Second},
		},
		{
			name:  "a run that served for a while ends the loop",
			runs:  []time.Duration{10 * ms, 10 * ms, 10 * ms, 10 * ms, 7 * time.Second, 10 * ms, 10 * ms, 10 * ms},
			waits: []time.Duration{0, 0, 250 * ms, 500 * ms, 0, 0, 250 * ms, 500 * ms},
		},
		{
			name:  "just under stableAfter is still a loop",
			runs:  []time.Duration{4999 * ms, 4999 * ms, 4999 * ms},
			waits: []time.Duration{0, 0, 250 * ms},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := restartPolicy{quick: defaultQuickRestarts, first: defaultFirstBackoff,
				max: defaultMaxBackoff, stableAfter: defaultStableAfter}
			clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			var got []time.Duration
			for _, run := range tc.runs {
				started := clock
				clock = clock.Add(run)
				wait := p.next(started, clock)
				got = append(got, wait)
				clock = clock.Add(wait)
			}
			assert.Equal(t, tc.waits, got)
		})
	}
}

// TestRestartPolicyFailedStart: nginx that cannot even be executed backs
// off like a master that died at once.
func TestRestartPolicyFailedStart(t *testing.T) {
	p := restartPolicy{quick: 1, first: time.Second, max: 3 * time.Second, stableAfter: time.Minute}
	now := time.Now()
	var got []time.Duration
	for range 4 {
		got = append(got, p.afterFailedStart(now))
	}
	assert.Equal(t, []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}, got)
}
