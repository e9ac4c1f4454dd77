package certs

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelfSignedIsAValidKeyPair(t *testing.T) {
	pem, err := SelfSigned(DefaultCommonName, 48*time.Hour)
	require.NoError(t, err)
	pair, err := tls.X509KeyPair(pem, pem)
	require.NoError(t, err)
	assert.Equal(t, DefaultCommonName, pair.Leaf.Subject.CommonName)
	assert.WithinDuration(t, time.Now().Add(48*time.Hour), pair.Leaf.NotAfter, time.Minute)
}

func TestUsable(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pem")
	pem, err := SelfSigned(DefaultCommonName, 48*time.Hour)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(good, pem, 0o600))
	bad := filepath.Join(dir, "bad.pem")
	require.NoError(t, os.WriteFile(bad, []byte("junk"), 0o600))

	assert.True(t, Usable(good, 24*time.Hour))
	assert.False(t, Usable(good, 72*time.Hour), "expires too soon")
	assert.False(t, Usable(bad, time.Hour))
	assert.False(t, Usable(filepath.Join(dir, "missing.pem"), time.Hour))
}
