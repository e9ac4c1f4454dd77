package events

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/record"

	"github.com/portico-ingress/portico/pkg/excerpt"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/reload"
)

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func TestReloadEventsGoToThePod(t *testing.T) {
	fake := record.NewFakeRecorder(10)
	r := New(fake, PodRef{Namespace: "portico", Name: "portico-abc", UID: "u1"}, time.Hour, slog.New(slog.DiscardHandler))
	r.Record(reload.Event{Result: reload.ResultSuccess, Generation: 3, Duration: 120 * time.Millisecond})
	r.Record(reload.Event{Result: reload.ResultInvalid, Generation: 4, Message: `unknown directive "x"`})
	got := drain(fake)
	assert.Len(t, got, 2)
	assert.True(t, strings.HasPrefix(got[0], "Normal RELOAD reload generation 3 succeeded"), got[0])
	assert.True(t, strings.HasPrefix(got[1], "Warning RELOAD"), got[1])
	assert.Contains(t, got[1], `unknown directive`)
}

// TestRetriesDoNotSpamEvents: retries of one config that fail the same way
// send one Warning, then one more per repeat interval with the count; a
// recovery or another failure is sent at once.
func TestRetriesDoNotSpamEvents(t *testing.T) {
	fake := record.NewFakeRecorder(20)
	r := New(fake, PodRef{Namespace: "portico", Name: "portico-abc"}, 30*time.Minute, slog.New(slog.DiscardHandler))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r.now = func() time.Time { return now }
	hung := func(gen uint64) reload.Event {
		return reload.Event{Time: now, Result: reload.ResultTimeout, Generation: gen, ConfigHash: "b", Message: "nginx -t did not finish within 30s; killed: nginx -t"}
	}

	r.Record(hung(2))
	got := drain(fake)
	require.Len(t, got, 1)
	assert.True(t, strings.HasPrefix(got[0], "Warning RELOAD reload generation 2 failed (timeout)"), got[0])
	for gen := uint64(3); gen < 10; gen++ {
		now = now.Add(31 * time.Second)
		r.Record(hung(gen))
	}
	assert.Empty(t, drain(fake), "retries within the repeat interval send nothing")

	now = now.Add(30 * time.Minute)
	r.Record(hung(10))
	got = drain(fake)
	require.Len(t, got, 1, "the repeat interval passed: one reminder")
	assert.Contains(t, got[0], "reload generation 10 failed (timeout) after 0s (9 attempts in a row since 2026-03-01T12:00:00Z)")

	r.Record(reload.Event{Result: reload.ResultInvalid, Generation: 11, ConfigHash: "c", Message: "unknown directive"})
	assert.Len(t, drain(fake), 1, "another failure is sent at once")
	r.Record(reload.Event{Result: reload.ResultRecovered, Generation: 1, Message: reload.RecoveredMessage})
	got = drain(fake)
	require.Len(t, got, 1)
	assert.Equal(t, "Normal RELOAD recovered: back to the live configuration (generation 1)", got[0])
	r.Record(hung(12))
	assert.Len(t, drain(fake), 1, "after a recovery a failure is new")
}

func TestNoPodNoReloadEvents(t *testing.T) {
	fake := record.NewFakeRecorder(10)
	r := New(fake, PodRef{}, time.Hour, slog.New(slog.DiscardHandler))
	r.Record(reload.Event{Result: reload.ResultSuccess})
	assert.Empty(t, drain(fake))
}

func TestFindingsAreSentOnceThenRepeated(t *testing.T) {
	fake := record.NewFakeRecorder(10)
	r := New(fake, PodRef{}, 30*time.Minute, slog.New(slog.DiscardHandler))
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	conflict := model.Finding{Object: model.ObjectRef{Kind: "Ingress", Namespace: "a", Name: "b"}, Reason: "Conflict", Message: "taken"}
	flag := model.Finding{Object: model.ObjectRef{Kind: "Flag", Name: "x"}, Reason: "InvalidOption", Message: "bad"}

	r.Findings([]model.Finding{conflict, flag})
	assert.Equal(t, []string{"Warning Conflict taken"}, drain(fake), "flags have no object to attach to")
	r.Findings([]model.Finding{conflict})
	assert.Empty(t, drain(fake), "a persisting finding is not re-sent at every sync")
	now = now.Add(31 * time.Minute)
	r.Findings([]model.Finding{conflict})
	assert.Equal(t, []string{"Warning Conflict taken"}, drain(fake), "re-sent after the repeat interval")
	r.Findings(nil)
	r.Findings([]model.Finding{conflict})
	assert.Equal(t, []string{"Warning Conflict taken"}, drain(fake), "a finding that went away and came back is new")
}

func TestLongMessagesAreClipped(t *testing.T) {
	assert.Len(t, excerpt.Within(strings.Repeat("x", 5000), maxMessage), maxMessage)
}

func TestNginxRestartedGoesToThePod(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wait  time.Duration
		event string
	}{
		{"at once", 0, "Warning NginxRestarted nginx master 42 exited unexpectedly (signal: killed) after 3m0.25s up; starting a new one at once (restart 2)"},
		{"backed off", 500 * time.Millisecond, "Warning NginxRestarted nginx master 42 exited unexpectedly (signal: killed) after 3m0.25s up; starting a new one in 500ms (it keeps exiting soon after it starts) (restart 2)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := record.NewFakeRecorder(10)
			r := New(fake, PodRef{Namespace: "portico", Name: "portico-abc", UID: "u1"}, time.Hour, slog.New(slog.DiscardHandler))
			r.NginxRestarted(42, "signal: killed", 3*time.Minute+250*time.Millisecond, tc.wait, 2)
			assert.Equal(t, []string{tc.event}, drain(fake))
		})
	}
	fake := record.NewFakeRecorder(10)
	New(fake, PodRef{}, time.Hour, slog.New(slog.DiscardHandler)).NginxRestarted(42, "signal: killed", time.Second, 0, 1)
	assert.Empty(t, drain(fake), "no Pod, no Event")
}
