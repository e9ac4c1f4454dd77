package parallel

import (
	"bytes"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorkers(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	assert.Equal(t, 1, Workers(0, 16))
	assert.Equal(t, 1, Workers(16, 16))
	assert.Equal(t, min(procs, 2), Workers(17, 16))
	assert.Equal(t, procs, Workers(1_000_000, 16))
}

// TestForEveryIndexOnce: each index is called exactly once, whatever the
// number of workers.
func TestForEveryIndexOnce(t *testing.T) {
	for _, workers := range []int{0, 1, 3, 64} {
		for _, n := range []int{0, 1, 7, 1000} {
			calls := make([]atomic.Int32, n)
			For(n, workers, func(i int) { calls[i].Add(1) })
			for i := range calls {
				require.Equal(t, int32(1), calls[i].Load(), "workers %d, n %d, index %d", workers, n, i)
			}
		}
	}
}

// TestDoStateIsPerWorker: no two goroutines share a state at once.
func TestDoStateIsPerWorker(t *testing.T) {
	var mu sync.Mutex
	inUse := map[*bytes.Buffer]bool{}
	made := atomic.Int32{}
	err := Do(500, 4, func() *bytes.Buffer { made.Add(1); return new(bytes.Buffer) }, func(i int, buf *bytes.Buffer) error {
		mu.Lock()
		if inUse[buf] {
			mu.Unlock()
			return errors.New("a state used by two goroutines at once")
		}
		inUse[buf] = true
		mu.Unlock()
		buf.Reset()
		buf.WriteByte(byte(i))
		runtime.Gosched()
		mu.Lock()
		inUse[buf] = false
		mu.Unlock()
		return nil
	})
	require.NoError(t, err)
	assert.LessOrEqual(t, made.Load(), int32(4))
}

// TestDoStopsAtFirstError: the error comes back, and no index is handed
// out after it.
func TestDoStopsAtFirstError(t *testing.T) {
	boom := errors.New("boom")
	for _, workers := range []int{1, 4} {
		var calls atomic.Int32
		err := Do(10_000, workers, nil, func(i int, _ struct{}) error {
			calls.Add(1)
			if i == 10 {
				return boom
			}
			return nil
		})
		assert.ErrorIs(t, err, boom)
		assert.Less(t, calls.Load(), int32(10_000), "workers %d", workers)
	}
}
