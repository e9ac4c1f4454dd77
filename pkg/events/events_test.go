package events

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
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
