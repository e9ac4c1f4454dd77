package webhookcert

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// fileCheckEvery bounds how often FileSource looks at its files: handshakes
// can come by the thousand, and a second's delay in seeing a renewal is
// nothing next to cert-manager's margins.
const fileCheckEvery = time.Second

// FileSource serves a pair from files that something else renews, such as
// a cert-manager Secret mounted in the Pod. It polls with os.Stat rather
// than fsnotify: kubelet updates Secret volumes by swapping a symlink,
// which inotify watches on the files themselves miss.
type FileSource struct {
	certFile, keyFile string
	now               func() time.Time
	log               *slog.Logger

	cert atomic.Pointer[tls.Certificate]

	mu        sync.Mutex // guards the fields below
	lastCheck time.Time
	stamp     fileStamp // of the files when last loaded (or tried)
}

// fileStamp is what tells that a file changed without reading it.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// NewFileSource loads the pair from certFile and keyFile and fails when it
// does not load. now is the clock (time.Now when nil); log receives reloads
// and failed loads (discarded when nil).
func NewFileSource(certFile, keyFile string, now func() time.Time, log *slog.Logger) (*FileSource, error) {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FileSource{certFile: certFile, keyFile: keyFile, now: now, log: log.With("cert", certFile, "key", keyFile)}
	st, err := f.statFiles()
	if err != nil {
		return nil, err
	}
	pair, err := loadPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	f.cert.Store(pair)
	f.stamp, f.lastCheck = st, now()
	f.log.Info("webhook serving certificate loaded", "serving", certAttrs(pair.Leaf))
	return f, nil
}

// GetCertificate returns the pair, reloading it first when either file
// changed; a pair that fails to load is logged and the last good one kept.
func (f *FileSource) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.reload()
	return f.cert.Load(), nil
}

// Ready returns nil while the pair served is not expired.
func (f *FileSource) Ready() error {
	f.reload()
	c := f.cert.Load()
	if !f.now().Before(c.Leaf.NotAfter) {
		return fmt.Errorf("serving certificate %s expired at %s", f.certFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

// reload loads the pair again when the files changed, at most once per
// fileCheckEvery.
func (f *FileSource) reload() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.lastCheck) < fileCheckEvery && !now.Before(f.lastCheck) {
		return
	}
	f.lastCheck = now
	st, err := f.statFiles()
	if err != nil {
		f.log.Error("webhook certificate files unreadable: serving the last good pair", "err", err)
		return
	}
	if st == f.stamp {
		return
	}
	// Remember the stamp even when loading fails: the same files would fail
	// again, and a writer that has only written one of them changes the
	// stamp once more when it writes the other.
	f.stamp = st
	pair, err := loadPair(f.certFile, f.keyFile)
	if err != nil {
		f.log.Error("webhook certificate files changed but do not load: serving the last good pair", "err", err)
		return
	}
	f.cert.Store(pair)
	f.log.Info("webhook serving certificate reloaded", "serving", certAttrs(pair.Leaf))
}

func (f *FileSource) statFiles() (fileStamp, error) {
	// os.Stat follows symlinks: the stamp is the target's, which is what
	// changes when kubelet swaps ..data.
	c, err := os.Stat(f.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("webhook certificate: %w", err)
	}
	k, err := os.Stat(f.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("webhook key: %w", err)
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// loadPair reads a PEM pair; its errors name the files, never their bytes.
func loadPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("loading webhook certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading webhook key: %w", err)
	}
	pair, err := pairFromPEM(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("loading webhook certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return pair, nil
}
