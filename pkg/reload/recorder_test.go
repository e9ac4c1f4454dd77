package reload

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMulti(t *testing.T) {
	a, b := NewHistory(4), NewHistory(4)
	var calls int
	r := Multi(a, nil, b, RecorderFunc(func(Event) { calls++ }))
	r.Record(Event{Generation: 1})
	r.Record(Event{Generation: 2})

	assert.Equal(t, []uint64{2, 1}, generations(a.Recent()))
	assert.Equal(t, []uint64{2, 1}, generations(b.Recent()))
	assert.Equal(t, 2, calls)
	assert.NotPanics(t, func() { Multi().Record(Event{}) })
}

func TestLogRecorder(t *testing.T) {
	tests := []struct {
		name      string
		event     Event
		wantLevel string
	}{
		{
			name: "success logs at info",
			event: Event{Result: ResultSuccess, Generation: 7, ConfigHash: "abc", Duration: 1500 * time.Microsecond,
				Changes: Changes{Added: []string{"a", "b"}, Changed: []string{"c"}}},
			wantLevel: "INFO",
		},
		{
			name:      "invalid logs at warn",
			event:     Event{Result: ResultInvalid, Generation: 8, ConfigHash: "def", Message: "nginx: [emerg] bad"},
			wantLevel: "WARN",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			LogRecorder{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}.Record(tt.event)

			var line map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &line), buf.String())
			assert.Equal(t, tt.wantLevel, line["level"])
			assert.Equal(t, "nginx reload", line["msg"])
			assert.Equal(t, string(tt.event.Result), line["result"])
			assert.Equal(t, float64(tt.event.Generation), line["generation"])
			assert.Equal(t, tt.event.ConfigHash, line["config_hash"])
			assert.Equal(t, durationMS(tt.event.Duration), line["duration_ms"])
			assert.Equal(t, float64(len(tt.event.Changes.Added)), line["added"])
			assert.Equal(t, float64(len(tt.event.Changes.Removed)), line["removed"])
			assert.Equal(t, float64(len(tt.event.Changes.Changed)), line["changed"])
			assert.Equal(t, tt.event.Message, line["message"])
			assert.Equal(t, 1, bytes.Count(buf.Bytes(), []byte("\n")), "exactly one line per event")
		})
	}
}

func TestLogRecorderNilLogger(t *testing.T) {
	assert.NotPanics(t, func() { LogRecorder{}.Record(Event{Result: ResultFailed}) })
}
