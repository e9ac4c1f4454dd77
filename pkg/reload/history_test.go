package reload

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func generations(events []Event) []uint64 {
	out := make([]uint64, 0, len(events))
	for _, ev := range events {
		out = append(out, ev.Generation)
	}
	return out
}

func TestHistoryRing(t *testing.T) {
	tests := []struct {
		name     string
		capacity int
		records  int
		want     []uint64
	}{
		{name: "empty", capacity: 3, records: 0, want: []uint64{}},
		{name: "partly filled", capacity: 3, records: 2, want: []uint64{2, 1}},
		{name: "exactly full", capacity: 3, records: 3, want: []uint64{3, 2, 1}},
		{name: "wrapped", capacity: 3, records: 7, want: []uint64{7, 6, 5}},
		{name: "zero capacity keeps one", capacity: 0, records: 4, want: []uint64{4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(tt.capacity)
			for i := 1; i <= tt.records; i++ {
				h.Record(Event{Generation: uint64(i)})
			}
			assert.Equal(t, tt.want, generations(h.Recent()))
		})
	}
}

func TestHistoryCopiesChanges(t *testing.T) {
	h := NewHistory(2)
	added := []string{"a"}
	h.Record(Event{Changes: Changes{Added: added}})
	added[0] = "mutated"
	assert.Equal(t, []string{"a"}, h.Recent()[0].Changes.Added)

	// Recent returns a fresh slice: editing it does not touch the history.
	got := h.Recent()
	got[0].Generation = 99
	assert.Equal(t, uint64(0), h.Recent()[0].Generation)
}

func TestHistoryConcurrent(t *testing.T) {
	const (
		capacity = 16
		writers  = 8
		perWrite = 200
	)
	h := NewHistory(capacity)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWrite {
				h.Record(Event{Generation: uint64(w*perWrite + i)})
			}
		})
	}
	// Readers run alongside the writers; -race checks the locking.
	for range 4 {
		wg.Go(func() {
			for range perWrite {
				assert.LessOrEqual(t, len(h.Recent()), capacity)
			}
		})
	}
	wg.Wait()

	got := h.Recent()
	require.Len(t, got, capacity)
	seen := map[uint64]bool{}
	for _, ev := range got {
		assert.False(t, seen[ev.Generation], "duplicate generation %d", ev.Generation)
		seen[ev.Generation] = true
	}
}

// TestHistoryFoldsRetries: retries of one config that fail the same way
// are one entry with a count; anything else is an entry of its own.
func TestHistoryFoldsRetries(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ev := func(gen uint64, r Result, hash string) Event {
		return Event{Time: at.Add(time.Duration(gen) * time.Second), Generation: gen, Result: r, ConfigHash: hash}
	}
	tests := []struct {
		name     string
		capacity int
		events   []Event
		// want is result:count:generation per entry, newest first.
		want []string
	}{
		{name: "retries fold", capacity: 5,
			events: []Event{ev(1, ResultSuccess, "a"), ev(2, ResultFailed, "b"), ev(3, ResultFailed, "b"), ev(4, ResultFailed, "b")},
			want:   []string{"failed:3:4", "success:1:1"}},
		{name: "a success ends the run", capacity: 5,
			events: []Event{ev(1, ResultTimeout, "b"), ev(2, ResultTimeout, "b"), ev(3, ResultSuccess, "b"), ev(4, ResultTimeout, "b")},
			want:   []string{"timeout:1:4", "success:1:3", "timeout:2:2"}},
		{name: "a recovery ends the run", capacity: 5,
			events: []Event{ev(1, ResultInvalid, "b"), ev(2, ResultInvalid, "b"), ev(0, ResultRecovered, "a"), ev(3, ResultInvalid, "b")},
			want:   []string{"invalid:1:3", "recovered:1:0", "invalid:2:2"}},
		{name: "another config or result is another entry", capacity: 5,
			events: []Event{ev(1, ResultFailed, "b"), ev(2, ResultFailed, "c"), ev(3, ResultTimeout, "c")},
			want:   []string{"timeout:1:3", "failed:1:2", "failed:1:1"}},
		{name: "folds across the ring's wrap", capacity: 2,
			events: []Event{ev(1, ResultSuccess, "a"), ev(2, ResultSuccess, "b"), ev(3, ResultFailed, "c"), ev(4, ResultFailed, "c")},
			want:   []string{"failed:2:4", "success:1:2"}},
		{name: "folds with one slot", capacity: 1,
			events: []Event{ev(1, ResultFailed, "c"), ev(2, ResultFailed, "c")},
			want:   []string{"failed:2:2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHistory(tt.capacity)
			for _, e := range tt.events {
				h.Record(e)
			}
			var got []string
			for _, e := range h.Recent() {
				got = append(got, fmt.Sprintf("%s:%d:%d", e.Result, e.attempts(), e.Generation))
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
