//go:build linux

// Package framework is what the end-to-end suites share, so that a suite
// (e2e/local, e2e/kube) and its benchmarks only describe cases: starting
// and stopping child processes (the controller, nginx's leftovers, etcd,
// echo servers), loopback ports, the controller's status and debug views,
// HTTP through nginx, certificates, and bounded polling.
//
// It keeps no package-level mutable state: what the tests of one binary
// share (the Supervisor that starts children, the Ports handed out, the
// binaries) is a Suite that the suite's TestMain makes.
//
// Traffic only ever goes to loopback and to the test hosts of
// 198.18.0.0/15: every client here dials through GuardedDial, which
// refuses anything else.
package framework
