//go:build !linux

package nginx

import (
	"syscall"
	"time"
)

// adoptAction is what a starting supervisor does with an nginx master
// that a previous controller left running.
type adoptAction int

const (
	startFresh adoptAction = iota
	adoptMaster
	killStale
)

// adoption is the decision about the master a pid file names, and why.
type adoption struct {
	action adoptAction
	pid    int
	stat   procStat
	reason string
}

// decideAdoption never adopts without /proc: it could not tell an nginx
// master of ours from a recycled pid.
func decideAdoption(_, _, _, _ string) (adoption, error) {
	return adoption{reason: "adopting a running nginx needs /proc (Linux)"}, nil
}

// adoptedMaster is never made outside Linux.
type adoptedMaster struct {
	pid  int
	stat procStat
}

func (a adoptedMaster) running() bool                            { return false }
func (a adoptedMaster) signal(syscall.Signal) error              { return ErrNotRunning }
func (a adoptedMaster) wait(<-chan struct{}, time.Duration) bool { return true }
func (a adoptedMaster) killGroup() error                         { return nil }
