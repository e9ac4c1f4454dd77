package model_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
)

// keyPairPEM makes a certificate for key, signed by itself or by a CA
// (caCert, caKey) with the given algorithm, and returns both PEMs.
func keyPairPEM(t *testing.T, key any, alg x509.SignatureAlgorithm, caCert *x509.Certificate, caKey any) ([]byte, []byte) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "leaf.example.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), SignatureAlgorithm: alg,
		DNSNames: []string{"leaf.example.com"}}
	parent, signer := tmpl, key
	if caCert != nil {
		parent, signer = caCert, caKey
	}
	pub := key.(crypto.Signer).Public()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// nginxLoads reports whether the real nginx -t loads pemFile as a server
// certificate and key.
func nginxLoads(t *testing.T, pair []byte) (string, bool) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "pair.pem")
	require.NoError(t, os.WriteFile(file, pair, 0o600))
	conf := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(conf, fmt.Appendf(nil, `pid %[1]s/nginx.pid;
error_log stderr;
events {}
http {
    client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
    server { listen 127.0.0.1:1 ssl; ssl_certificate %[2]s; ssl_certificate_key %[2]s; }
}
`, dir, file), 0o600))
	return nginxtest.Check(t, conf)
}

// TestKeyPairsOpenSSLRefuses: chains Go accepts and nginx's OpenSSL 3
// refuses at nginx -t ("ee key too small", "ca md too weak") are refused
// as invalid certificates, so a tenant's Secret cannot fail the config of
// every host; each case is checked against the real nginx -t too.
func TestKeyPairsOpenSSLRefuses(t *testing.T) {
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, rsa2048.Public(), rsa2048)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)

	tests := []struct {
		name string
		cert func() ([]byte, []byte)
		want string // "" when accepted
	}{
		{"RSA 2048", func() ([]byte, []byte) { return keyPairPEM(t, rsa2048, x509.SHA256WithRSA, nil, nil) }, ""},
		{"ECDSA P-256", func() ([]byte, []byte) { return keyPairPEM(t, ec, x509.ECDSAWithSHA256, nil, nil) }, ""},
		{"RSA 1024", func() ([]byte, []byte) { return keyPairPEM(t, rsa1024, x509.SHA256WithRSA, nil, nil) }, "1024-bit RSA key"},
		{"self-signed with SHA-1", func() ([]byte, []byte) { return keyPairPEM(t, rsa2048, x509.SHA1WithRSA, nil, nil) }, ""},
		{"signed with SHA-1 by a CA", func() ([]byte, []byte) { return keyPairPEM(t, ec, x509.SHA1WithRSA, ca, rsa2048) }, "SHA-1"},
		{"signed with SHA-256 by a CA", func() ([]byte, []byte) { return keyPairPEM(t, ec, x509.SHA256WithRSA, ca, rsa2048) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certPEM, keyPEM := tt.cert()
			_, err := model.NormalizeKeyPair(certPEM, keyPEM)
			out, loads := nginxLoads(t, append(append([]byte{}, certPEM...), keyPEM...))
			if tt.want == "" {
				assert.NoError(t, err)
				assert.True(t, loads, "nginx -t loads what the model accepts: %s", out)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.False(t, loads, "nginx -t refuses it too")
		})
	}
}
