package model_test

import (
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/portico-ingress/portico/pkg/model"
)

// TestCertificateInfoReadOnLoad: an accepted TLS Secret's Certificate
// carries its leaf's public data (issuer, serial, key algorithm), read once
// with the pair, and the same through the key pair cache; never the key.
func TestCertificateInfoReadOnLoad(t *testing.T) {
	p := newPair(t, "a.example.com", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	block, _ := pem.Decode(p.cert)
	require.NotNil(t, block)
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)

	opts := testOptions()
	opts.KeyPairs = model.NewKeyPairCache()
	snap := tlsSnapshot(map[string]*corev1.Secret{"a": tlsSecret("a", "s1", pairData(p))})
	for _, round := range []string{"parsed", "cached"} {
		cfg, _ := model.Build(snap, opts)
		var found bool
		for _, c := range cfg.Certificates {
			if c.Secret != "a/tls" {
				continue
			}
			found = true
			assert.Equal(t, "a.example.com", c.Info.IssuerCommonName, round)
			assert.Equal(t, "Portico", c.Info.IssuerOrganization, round)
			assert.Equal(t, leaf.SerialNumber.String(), c.Info.SerialNumber, round)
			assert.Equal(t, "ECDSA", c.Info.PublicKeyAlgorithm, round)
			assert.Equal(t, "-"+leaf.SerialNumber.String(), c.Info.Identifier(), round)
		}
		assert.True(t, found, round)
	}
}
