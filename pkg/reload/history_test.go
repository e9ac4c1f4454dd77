package reload

import (
	"sync"
	"testing"

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
