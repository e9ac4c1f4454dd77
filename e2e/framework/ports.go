//go:build linux

package framework

import (
	"errors"
	"net"
	"sync"
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
		if !p.used[port] {
			p.used[port] = true
			return port, nil
		}
	}
	return 0, errors.New("no free port in 50 attempts")
}

// MustFree is Free for tests.
func (p *Ports) MustFree(t testing.TB) int {
	t.Helper()
	port, err := p.Free()
	require.NoError(t, err)
	return port
}
