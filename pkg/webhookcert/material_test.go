package webhookcert

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseKey reads the key encodings other tools write into a Secret
// (openssl's SEC 1 and PKCS#1 as well as PKCS#8), and names what is wrong
// without quoting the input.
func TestParseKey(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(ec)
	require.NoError(t, err)
	sec1, err := x509.MarshalECPrivateKey(ec)
	require.NoError(t, err)
	ed8, err := x509.MarshalPKCS8PrivateKey(edKey)
	require.NoError(t, err)
	enc := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	tests := []struct {
		name string
		in   []byte
		want string // error; "" for success
	}{
		{"PKCS#8 ECDSA", enc("PRIVATE KEY", pkcs8), ""},
		{"SEC 1", enc("EC PRIVATE KEY", sec1), ""},
		{"PKCS#1 RSA", enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), ""},
		{"PKCS#8 Ed25519", enc("PRIVATE KEY", ed8), ""},
		{"not PEM", []byte("secret bytes"), "no PEM block"},
		{"not a key", enc("PRIVATE KEY", []byte("secret bytes")), "not a PKCS#8, EC or PKCS#1 private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := parseKey(tt.in)
			if tt.want == "" {
				require.NoError(t, err)
				assert.NotNil(t, k)
				return
			}
			require.EqualError(t, err, tt.want)
		})
	}
}
