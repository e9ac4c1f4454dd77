//go:build linux

package node

import "testing"

func TestNodeSmoke(t *testing.T) {
	requireEnv(t)
}
