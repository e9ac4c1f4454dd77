//go:build linux

package framework

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Ports hands out loopback TCP ports. It keeps one caller from being handed
// a port another got a moment ago (the kernel may hand out a closed port
// again); its zero value is ready.
type Ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// Free returns a loopback TCP port that was free a moment ago.
func (p *Ports) Free() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used == nil {
		p.used = map[int]bool{}
	}
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if err := ln.Close(); err != nil {
			return 0, err
		}
		if !p.used[port] && !inUse(port) {
			p.used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port in 50 attempts")
}

// inUse reports whether any IPv4 socket of the machine holds port, on any
// address: a port free on 127.0.0.1 may be a backend's on 127.0.0.x, and
// the controller rightly refuses a loopback backend on one of its own
// ports. It binds the wildcard address without SO_REUSEADDR, which fails
// for any holder, and never listens, so nothing can connect meanwhile.
func inUse(port int) bool {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return false // cannot tell: the loopback listen above decides alone
	}
	defer func() { _ = syscall.Close(fd) }()
	return syscall.Bind(fd, &syscall.SockaddrInet4{Port: port}) != nil
}

// MustFree is Free for tests.
func (p *Ports) MustFree(t testing.TB) int {
	t.Helper()
	port, err := p.Free()
	require.NoError(t, err)
	return port
}
