// Package parallel spreads independent pieces of one sync's work (model
// units, key pairs, server blocks) over the cores: the build and the render
// of 10,000 Ingresses are CPU work that one core would do several times
// slower.
package parallel

import (
	"runtime"
	"sync"
)

// Workers returns how many goroutines n pieces of work deserve when each
// should get at least perWorker of them (a goroutine costs more than a tiny
// piece): from 1 to GOMAXPROCS.
func Workers(n, perWorker int) int {
	return max(1, min(runtime.GOMAXPROCS(0), (n+perWorker-1)/perWorker))
}

// For calls fn(i) for every i in [0, n) on up to workers goroutines and
// returns when all calls have.
func For(n, workers int, fn func(i int)) {
	_ = Do(n, workers, nil, func(i int, _ struct{}) error {
		fn(i)
		return nil
	})
}

// Do calls fn(i, state) for every i in [0, n) on up to workers goroutines,
// each taking the next i when done with its last, each with its own state
// from newState (the zero S when nil), so that workers reuse buffers
// without sharing them. After the first error no new i is handed out; Do
// returns that error once the calls under way have returned.
func Do[S any](n, workers int, newState func() S, fn func(i int, state S) error) error {
	workers = max(1, min(workers, n))
	state := func() S {
		var s S
		if newState != nil {
			s = newState()
		}
		return s
	}
	if workers == 1 {
		s := state()
		for i := range n {
			if err := fn(i, s); err != nil {
				return err
			}
		}
		return nil
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		next  int
		first error
	)
	// take hands out the next index, or false when there is none or an
	// error has stopped the work.
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= n || first != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	for range workers {
		wg.Go(func() {
			s := state()
			for i, ok := take(); ok; i, ok = take() {
				if err := fn(i, s); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}
