// Command pause is the sandbox ("pause") container of the end-to-end node:
// it holds a Pod's namespaces, reaps children that are re-parented to it
// (the Pods here share their process namespace, so it is their PID 1), and
// exits on SIGTERM or SIGINT. No registry is reachable from the machines
// the suite runs on, so registry.k8s.io/pause cannot be pulled; the suite
// builds this statically and imports it into containerd as an image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return
		}
		reap()
	}
}

// reap collects every exited child without blocking; one SIGCHLD may stand
// for several exits.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
