package reload

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSummary(t *testing.T) {
	tests := []struct {
		name  string
		event Event
		want  string
	}{
		{
			name: "success with added and changed",
			event: Event{Result: ResultSuccess, Generation: 7, Duration: 312 * time.Millisecond, Changes: Changes{
				Added:   []string{"a.example.com", "b.example.com"},
				Changed: []string{"c.example.com"},
			}},
			want: "reload generation 7 succeeded in 312ms: 2 servers added (a.example.com, b.example.com), 1 changed (c.example.com)",
		},
		{
			name: "success single removed uses singular noun",
			event: Event{Result: ResultSuccess, Generation: 2, Duration: 1234567 * time.Microsecond, Changes: Changes{
				Removed: []string{"old.example.com"},
			}},
			want: "reload generation 2 succeeded in 1.23s: 1 server removed (old.example.com)",
		},
		{
			name:  "success without server changes",
			event: Event{Result: ResultSuccess, Generation: 3, Duration: 40*time.Millisecond + 400*time.Microsecond},
			want:  "reload generation 3 succeeded in 40ms: no server changes",
		},
		{
			name: "long list is cut after five names",
			event: Event{Result: ResultSuccess, Generation: 1, Duration: 2 * time.Second, Changes: Changes{
				Added: []string{"a", "b", "c", "d", "e", "f", "g", "h"},
			}},
			want: "reload generation 1 succeeded in 2s: 8 servers added (a, b, c, d, e and 3 more)",
		},
		{
			name: "invalid carries result and nginx output on one line",
			event: Event{Result: ResultInvalid, Generation: 8, Duration: 95 * time.Millisecond,
				Changes: Changes{Changed: []string{"c.example.com"}},
				Message: "nginx: [emerg] unknown directive \"foo\" in /etc/nginx/nginx.conf:12\nnginx: configuration file /etc/nginx/nginx.conf test failed\n"},
			want: `reload generation 8 failed (invalid) after 95ms: 1 server changed (c.example.com): nginx: [emerg] unknown directive "foo" in /etc/nginx/nginx.conf:12; nginx: configuration file /etc/nginx/nginx.conf test failed`,
		},
		{
			name:  "timeout without message",
			event: Event{Result: ResultTimeout, Generation: 9, Duration: 60 * time.Second},
			want:  "reload generation 9 failed (timeout) after 1m0s: no server changes",
		},
		{
			name:  "failed with write error",
			event: Event{Result: ResultFailed, Generation: 10, Duration: 500 * time.Microsecond, Message: "write /etc/nginx/nginx.conf: no space left on device"},
			want:  "reload generation 10 failed after 500µs: no server changes: write /etc/nginx/nginx.conf: no space left on device",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.event.Summary())
		})
	}
}

func TestSummaryTruncatesLongMessage(t *testing.T) {
	ev := Event{Result: ResultInvalid, Generation: 1, Message: strings.Repeat("é", 1000)}
	s := ev.Summary()
	assert.LessOrEqual(t, len(s), 600)
	assert.True(t, strings.HasSuffix(s, "..."))
	assert.NotContains(t, s, "\uFFFD")
	assert.Equal(t, 2000, len(ev.Message), "the event keeps the full message")
}

func TestEventJSONShape(t *testing.T) {
	ev := Event{
		Time:       time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		Result:     ResultSuccess,
		Generation: 7,
		ConfigHash: "abc123",
		Duration:   312500 * time.Microsecond,
		Changes:    Changes{Added: []string{"a.example.com"}},
	}
	got, err := json.Marshal(ev)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"time": "2026-03-01T12:00:00Z",
		"result": "success",
		"generation": 7,
		"config_hash": "abc123",
		"duration_ms": 312.5,
		"changes": {"added": ["a.example.com"], "removed": [], "changed": []},
		"message": "",
		"count": 1,
		"last_time": "2026-03-01T12:00:00Z"
	}`, string(got))

	var back Event
	require.NoError(t, json.Unmarshal(got, &back))
	assert.Equal(t, ev.Duration, back.Duration)
	assert.Equal(t, ev.Generation, back.Generation)
	assert.Equal(t, ev.Changes.Added, back.Changes.Added)
	assert.True(t, ev.Time.Equal(back.Time))
}

func TestChangesJSONNeverNull(t *testing.T) {
	got, err := json.Marshal(Changes{})
	require.NoError(t, err)
	assert.JSONEq(t, `{"added": [], "removed": [], "changed": []}`, string(got))
}

func TestFoldedAndRecoveredEvents(t *testing.T) {
	first := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	timeout := func(gen uint64, at time.Time, hash string) Event {
		return Event{Time: at, Result: ResultTimeout, Generation: gen, ConfigHash: hash, Duration: time.Second,
			Message: fmt.Sprintf("nginx -t did not finish within 1s; killed: nginx -t -q -c .nginx.conf.%d.tmp", gen)}
	}
	a := timeout(4, first, "aaa")
	b := timeout(5, first.Add(2*time.Second), "aaa")
	c := timeout(6, first.Add(4*time.Second), "aaa")
	tests := []struct {
		name     string
		x, y     Event
		same     bool
		wantJSON string
	}{
		{name: "a retry of the same config", x: a, y: b, same: true},
		{name: "another config", x: a, y: timeout(5, first, "bbb")},
		{name: "another result", x: a, y: Event{Result: ResultFailed, ConfigHash: "aaa"}},
		{name: "successes are never folded", x: Event{Result: ResultSuccess, ConfigHash: "aaa"}, y: Event{Result: ResultSuccess, ConfigHash: "aaa"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.same, tt.x.SameFailure(tt.y))
		})
	}

	folded := a.Fold(b).Fold(c)
	assert.Equal(t, 3, folded.Count)
	assert.Equal(t, first, folded.Time, "the first attempt's time")
	assert.Equal(t, first.Add(4*time.Second), folded.LastTime, "the last attempt's time")
	assert.Equal(t, uint64(6), folded.Generation, "the last attempt's generation")
	assert.Equal(t, c.Message, folded.Message, "the last attempt's message")
	assert.Equal(t, "reload generation 6 failed (timeout) after 1s (3 attempts in a row since 2026-03-01T12:00:00Z): no server changes: "+
		"nginx -t did not finish within 1s; killed: nginx -t -q -c .nginx.conf.6.tmp", folded.Summary())

	recovered := Event{Time: first.Add(time.Minute), Result: ResultRecovered, Generation: 3, ConfigHash: "live", Message: RecoveredMessage}
	assert.False(t, recovered.Result.Failed())
	assert.False(t, recovered.SameFailure(recovered))
	assert.Equal(t, "recovered: back to the live configuration (generation 3)", recovered.Summary())
	recovered.Message = RecoveredMessage + "; left out what nginx -t refused"
	assert.Equal(t, "recovered: back to the live configuration (generation 3): left out what nginx -t refused", recovered.Summary())
}
