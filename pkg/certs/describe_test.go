package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDescribe(t *testing.T) {
	notBefore := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	certPEM, keyPEM, err := SelfSignedBetween([]string{"shop.example.com", "www.shop.example.com"}, notBefore, notAfter)
	require.NoError(t, err)
	block, _ := pem.Decode(certPEM)
	leaf, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	sum := sha256.Sum256(block.Bytes)

	tests := []struct {
		name   string
		bundle []byte
	}{
		{"certificate then key, as Secrets are written", append(append([]byte{}, certPEM...), keyPEM...)},
		{"key first: the key block is skipped", append(append([]byte{}, keyPEM...), certPEM...)},
		{"certificate alone", certPEM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Describe(tt.bundle)
			require.NoError(t, err)
			assert.Equal(t, "shop.example.com", info.Subject)
			assert.Equal(t, "shop.example.com", info.Issuer, "self-signed")
			assert.Equal(t, []string{"shop.example.com", "www.shop.example.com"}, info.DNSNames)
			assert.Equal(t, leaf.SerialNumber.Text(16), info.Serial)
			assert.Equal(t, notBefore, info.NotBefore)
			assert.Equal(t, notAfter, info.NotAfter)
			assert.Equal(t, hex.EncodeToString(sum[:]), strings.ReplaceAll(info.SHA256, ":", ""))
			assert.Len(t, info.SHA256, 32*3-1)
		})
	}
}

func TestDescribeRefuses(t *testing.T) {
	_, keyPEM, err := SelfSignedBetween([]string{"a.example.com"}, time.Now(), time.Now().Add(time.Hour))
	require.NoError(t, err)
	for name, bundle := range map[string][]byte{
		"key only": keyPEM,
		"empty":    nil,
		"garbage":  []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Describe(bundle)
			require.Error(t, err)
			// The error must not carry the bundle: it holds the key.
			assert.NotContains(t, err.Error(), "PRIVATE")
			assert.NotContains(t, err.Error(), string(keyPEM[30:60]))
		})
	}
}
