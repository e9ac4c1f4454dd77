package reload

import (
	"encoding/json"
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
		"message": ""
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
