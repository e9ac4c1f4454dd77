package framework

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SuiteMain is what an end-to-end suite's TestMain runs: skip or fail when
// a prerequisite is missing, set up once, run the tests, and tear down
// exactly once, also on SIGINT or SIGTERM and while a panic unwinds.
type SuiteMain struct {
	// Name prefixes every line ("e2e/node").
	Name string
	// Hint says what to run when a prerequisite is missing.
	Hint string
	// Missing names what the machine lacks, or "".
	Missing func() string
	// Setup brings the environment up; whatever it started before
	// failing is Teardown's to stop.
	Setup func() error
	// Teardown stops everything; it must be safe on a half set-up environment.
	Teardown func() error
	// Skip is told why every test skips (the suite's tests call t.Skip with it).
	Skip func(reason string)
	// Ready is called once Setup succeeded, before the tests run.
	Ready func()
	// Diagnose, when set, prints what helps after a failed setup or run.
	Diagnose func()
}

// Run runs the suite and returns the exit code for os.Exit.
func (s SuiteMain) Run(m *testing.M) int {
	if os.Getenv("PORTICO_E2E") == "0" {
		return s.skip(m, "PORTICO_E2E=0")
	}
	if reason := s.Missing(); reason != "" {
		if os.Getenv("PORTICO_REQUIRE_E2E") != "" {
			fmt.Fprintf(os.Stderr, "%s: FAIL: %s (PORTICO_REQUIRE_E2E is set; %s)\n", s.Name, reason, s.Hint)
			return 1
		}
		return s.skip(m, reason+" (set PORTICO_REQUIRE_E2E=1 to make this a failure)")
	}

	var once sync.Once
	teardown := func() {
		once.Do(func() {
			start := time.Now()
			if err := s.Teardown(); err != nil {
				fmt.Fprintf(os.Stderr, "%s: teardown: %v\n", s.Name, err)
			}
			fmt.Fprintf(os.Stderr, "%s: teardown took %s\n", s.Name, time.Since(start).Round(time.Millisecond))
		})
	}
	// Deferred calls also run while a panic of this goroutine unwinds.
	defer teardown()

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		sig, ok := <-signals
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "%s: got %s, tearing down\n", s.Name, sig)
		teardown()
		os.Exit(1)
	}()

	start := time.Now()
	if err := s.Setup(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: setup failed: %v\n", s.Name, err)
		s.diagnose()
		return 1
	}
	fmt.Fprintf(os.Stderr, "%s: setup took %s\n", s.Name, time.Since(start).Round(time.Millisecond))
	s.Ready()
	code := m.Run()
	if code != 0 {
		s.diagnose()
	}
	return code
}

func (s SuiteMain) skip(m *testing.M, reason string) int {
	s.Skip(reason)
	fmt.Fprintf(os.Stderr, "%s: skipping the suite: %s\n", s.Name, reason)
	return m.Run()
}

func (s SuiteMain) diagnose() {
	if s.Diagnose != nil {
		s.Diagnose()
	}
}
