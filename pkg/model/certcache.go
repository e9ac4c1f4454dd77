package model

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// KeyPairCache remembers what NormalizeKeyPair returned for a certificate
// and key, by a sha256 of both, so that a build does not parse and check
// again the key pairs of Secrets that did not change (1,000 TLS Secrets
// cost about 0.1 s per build). The result depends only on the bytes hashed,
// so Build stays pure: the same objects give the same Config with or without
// the cache. Pass one cache to every Build (Options.KeyPairs) for the life
// of the process; entries a build does not use are dropped at its end. It
// is safe for concurrent use.
type KeyPairCache struct {
	mu      sync.Mutex
	builds  uint64
	entries map[[32]byte]*keyPairEntry
}

type keyPairEntry struct {
	pem   []byte
	facts leafFacts // of the chain's first certificate
	err   error
	used  uint64 // the build that last used it
}

// NewKeyPairCache returns an empty cache.
func NewKeyPairCache() *KeyPairCache {
	return &KeyPairCache{entries: map[[32]byte]*keyPairEntry{}}
}

// begin starts a build and returns its number.
func (c *KeyPairCache) begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.builds++
	return c.builds
}

// normalize is normalizeKeyPair through the cache (Build always has one).
func (c *KeyPairCache) normalize(build uint64, certPEM, keyPEM []byte) ([]byte, leafFacts, error) {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	h.Write(binary.AppendUvarint(n[:0], uint64(len(certPEM))))
	h.Write(certPEM)
	h.Write(keyPEM)
	var k [32]byte
	h.Sum(k[:0])
	c.mu.Lock()
	e, ok := c.entries[k]
	if ok {
		e.used = max(e.used, build)
	}
	c.mu.Unlock()
	if ok {
		return e.pem, e.facts, e.err
	}
	pem, facts, err := normalizeKeyPair(certPEM, keyPEM)
	c.mu.Lock()
	c.entries[k] = &keyPairEntry{pem: pem, facts: facts, err: err, used: build}
	c.mu.Unlock()
	return pem, facts, err
}

// end drops the entries that neither this build nor a later one used.
func (c *KeyPairCache) end(build uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.used < build {
			delete(c.entries, k)
		}
	}
}

// Len returns the number of key pairs held.
func (c *KeyPairCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
