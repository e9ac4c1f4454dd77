package webhookcert

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
)

// pair makes a self-signed pair for the webhook's first name.
func pair(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	c, k, err := certs.SelfSignedFor(testDNSNames, year)
	require.NoError(t, err)
	return c, k
}

// writePair writes the pair and stamps both files with mtime, so that a
// rewrite is seen even on a file system with coarse timestamps.
func writePair(t *testing.T, dir string, certPEM, keyPEM []byte, mtime time.Time) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
	require.NoError(t, os.Chtimes(certFile, mtime, mtime))
	require.NoError(t, os.Chtimes(keyFile, mtime, mtime))
	return certFile, keyFile
}

func TestNewFileSourceFailsClearly(t *testing.T) {
	certPEM, keyPEM := pair(t)
	_, otherKey := pair(t)
	tests := []struct {
		name          string
		cert, key     []byte
		noCert, noKey bool
		want          string
	}{
		{"missing certificate", nil, keyPEM, true, false, "webhook certificate: stat"},
		{"missing key", certPEM, nil, false, true, "webhook key: stat"},
		{"certificate garbage", []byte("garbage"), keyPEM, false, false, "no CERTIFICATE block"},
		{"key garbage", certPEM, []byte("garbage"), false, false, "key: no PEM block"},
		{"key of another pair", certPEM, otherKey, false, false, "the key does not belong to the certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := writePair(t, dir, tt.cert, tt.key, time.Now())
			if tt.noCert {
				require.NoError(t, os.Remove(certFile))
			}
			if tt.noKey {
				require.NoError(t, os.Remove(keyFile))
			}
			_, err := NewFileSource(certFile, keyFile, nil, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "PRIVATE KEY")
		})
	}
}

func TestFileSourceReloads(t *testing.T) {
	e := newEnv(t, false) // for its clock and its log checks
	dir := t.TempDir()
	certA, keyA := pair(t)
	certFile, keyFile := writePair(t, dir, certA, keyA, e.t0.Add(-time.Hour))
	f, err := NewFileSource(certFile, keyFile, e.clock.Now, e.log)
	require.NoError(t, err)
	leafA := pemCerts(t, certA)[0]
	assert.Equal(t, leafA.Raw, served(t, f.GetCertificate))
	require.NoError(t, handshake(t, f.GetCertificate, certA, testDNSNames[0], e.clock.Now()))

	// A new pair: not looked at within the second, served after it.
	certB, keyB := pair(t)
	writePair(t, dir, certB, keyB, e.t0)
	e.at(500 * time.Millisecond)
	assert.Equal(t, leafA.Raw, served(t, f.GetCertificate), "checked at most once a second")
	e.at(1500 * time.Millisecond)
	assert.Equal(t, pemCerts(t, certB)[0].Raw, served(t, f.GetCertificate))
	require.NoError(t, handshake(t, f.GetCertificate, certB, testDNSNames[0], e.clock.Now()))
	assert.Contains(t, e.logs.String(), "webhook serving certificate reloaded")

	// A broken pair: B stays, and the log says so.
	writePair(t, dir, []byte("garbage"), keyB, e.t0.Add(time.Second))
	e.at(3 * time.Second)
	assert.Equal(t, pemCerts(t, certB)[0].Raw, served(t, f.GetCertificate))
	assert.Contains(t, e.logs.String(), "do not load: serving the last good pair")
	require.NoError(t, f.Ready())

	// Half-written: the new certificate with the old key.
	certC, keyC := pair(t)
	writePair(t, dir, certC, keyB, e.t0.Add(2*time.Second))
	e.at(5 * time.Second)
	assert.Equal(t, pemCerts(t, certB)[0].Raw, served(t, f.GetCertificate))

	// The key arrives: C is served.
	writePair(t, dir, certC, keyC, e.t0.Add(3*time.Second))
	e.at(7 * time.Second)
	assert.Equal(t, pemCerts(t, certC)[0].Raw, served(t, f.GetCertificate))

	// Files gone (volume unmounted): C stays.
	require.NoError(t, os.Remove(certFile))
	e.at(9 * time.Second)
	assert.Equal(t, pemCerts(t, certC)[0].Raw, served(t, f.GetCertificate))
}

// TestFileSourceFollowsKubeletSymlinkSwap updates the files the way kubelet
// updates a Secret volume: new files in a new directory, then the ..data
// symlink renamed over the old one.
func TestFileSourceFollowsKubeletSymlinkSwap(t *testing.T) {
	e := newEnv(t, false)
	vol := t.TempDir()
	certA, keyA := pair(t)
	writePair(t, filepath.Join(mkdir(t, vol, "..2026_01_01"), ""), certA, keyA, e.t0.Add(-time.Hour))
	require.NoError(t, os.Symlink("..2026_01_01", filepath.Join(vol, "..data")))
	for _, n := range []string{"tls.crt", "tls.key"} {
		require.NoError(t, os.Symlink(filepath.Join("..data", n), filepath.Join(vol, n)))
	}
	f, err := NewFileSource(filepath.Join(vol, "tls.crt"), filepath.Join(vol, "tls.key"), e.clock.Now, e.log)
	require.NoError(t, err)
	assert.Equal(t, pemCerts(t, certA)[0].Raw, served(t, f.GetCertificate))

	certB, keyB := pair(t)
	writePair(t, mkdir(t, vol, "..2026_02_01"), certB, keyB, e.t0)
	require.NoError(t, os.Symlink("..2026_02_01", filepath.Join(vol, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(vol, "..data_tmp"), filepath.Join(vol, "..data")))
	require.NoError(t, os.RemoveAll(filepath.Join(vol, "..2026_01_01")))
	e.at(2 * time.Second)
	assert.Equal(t, pemCerts(t, certB)[0].Raw, served(t, f.GetCertificate))
}

func TestFileSourceReady(t *testing.T) {
	e := newEnv(t, false)
	certPEM, keyPEM := pair(t)
	certFile, keyFile := writePair(t, t.TempDir(), certPEM, keyPEM, e.t0)
	f, err := NewFileSource(certFile, keyFile, e.clock.Now, e.log)
	require.NoError(t, err)
	require.NoError(t, f.Ready())
	e.at(year + time.Hour)
	assert.ErrorContains(t, f.Ready(), "expired at")
}

func mkdir(t *testing.T, parent, name string) string {
	t.Helper()
	dir := filepath.Join(parent, name)
	require.NoError(t, os.Mkdir(dir, 0o700))
	return dir
}
