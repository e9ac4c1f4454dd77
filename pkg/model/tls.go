package model

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/excerpt"
	"github.com/portico-ingress/portico/pkg/parallel"
)

func (b *builder) addTLS(ing *networkingv1.Ingress, ref ObjectRef) {
	source := key(ing.Namespace, ing.Name)
	for _, t := range ing.Spec.TLS {
		hosts := t.Hosts
		if len(hosts) == 0 {
			hosts = []string{""} // no hosts: the certificate of the catch-all server
		}
		hosts = b.ownedTLSHosts(ing, ref, hosts)
		if len(hosts) == 0 {
			continue
		}
		tls := ServerTLS{CertificatePath: b.global.DefaultCertificate, RedirectHTTP: b.global.SSLRedirect && !b.opts.DisableSSLRedirect}
		// A spec.tls entry without secretName means the default certificate
		// in ingress-nginx, and real manifests rely on it (a wildcard
		// --default-ssl-certificate): serve it so, with no finding.
		if t.SecretName != "" {
			r := b.certificate(ing.Namespace, t.SecretName)
			subject := fmt.Sprintf("TLS Secret %s/%s", ing.Namespace, excerpt.Of(t.SecretName))
			if r.expired && b.defaultCovers(hosts) {
				// Something better than an expired certificate.
				b.expiredForDefault(ref, r, subject, hostList(t.Hosts))
			} else {
				b.certificateFindings(ref, r, subject, "serving the default certificate for "+hostList(t.Hosts), "for "+hostList(t.Hosts))
				if r.path != "" {
					b.certificates[r.path] = r.cert
					tls.CertificatePath = r.path
					tls.Secret = key(ing.Namespace, t.SecretName)
				}
			}
		}
		for _, h := range hosts {
			srv := b.server(h)
			if srv.tls == nil {
				t := tls
				srv.tls, srv.tlsSource = &t, source
				continue
			}
			if srv.tls.Secret != tls.Secret && srv.tlsSource != source {
				b.ignored(ref, ReasonConflict, "TLS for host %q is ignored: the older Ingress %s already sets its certificate",
					displayHost(h), srv.tlsSource)
			}
		}
	}
}

// ownedTLSHosts returns the valid hosts of a spec.tls entry that the
// Ingress's namespace owns; the others get a finding. Another namespace's
// host keeps its owner's certificate, redirect and HSTS.
func (b *builder) ownedTLSHosts(ing *networkingv1.Ingress, ref ObjectRef, hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if h != "" {
			if err := validateHost(h); err != nil {
				b.ignored(ref, ReasonInvalidHost, "TLS host %q skipped: %v", excerpt.Of(h), err)
				continue
			}
		}
		if !b.owns(ing.Namespace, h) {
			b.notOwned(ref, h, "spec.tls")
			continue
		}
		out = append(out, h)
	}
	return out
}

func hostList(hosts []string) string {
	if len(hosts) == 0 {
		return "the default server"
	}
	return strings.Join(hosts, ", ")
}

var errSecretNotFound = errors.New("not found")

// certificate chooses the key pair served for a kubernetes.io/tls Secret
// (tlscert.go); the result is kept for the rest of the build, as every use
// of the Secret gets the same pair. The user registers its file.
func (b *builder) certificate(namespace, name string) certResult {
	k := key(namespace, name)
	if r, ok := b.certBySecret[k]; ok {
		return r
	}
	r := b.chooseCertificate(namespace, name)
	b.certBySecret[k] = r
	return r
}

// checkKeyPairs checks the key pairs of the TLS Secrets the Ingresses name
// on all cores, ahead of the build, which then finds them in
// opts.KeyPairs: parsing is most of a cold build's TLS work (~70 µs per
// pair), and each pair is independent. The results are the same as one by
// one, so the build stays deterministic.
func (b *builder) checkKeyPairs(ingresses []*networkingv1.Ingress) {
	type pair struct{ cert, key []byte }
	var pairs []pair
	seen := map[string]bool{}
	for _, ing := range ingresses {
		for _, t := range ing.Spec.TLS {
			k := key(ing.Namespace, t.SecretName)
			if t.SecretName == "" || seen[k] {
				continue
			}
			seen[k] = true
			if s, ok := b.secrets[k]; ok && s.Data[corev1.TLSCertKey] != nil && s.Data[corev1.TLSPrivateKeyKey] != nil {
				pairs = append(pairs, pair{s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]})
			}
		}
	}
	workers := parallel.Workers(len(pairs), 16)
	if workers < 2 {
		return // not worth goroutines; the build checks them as it goes
	}
	parallel.For(len(pairs), workers, func(i int) {
		// Errors are found again, and reported, where the build uses the pair.
		_, _, _ = b.opts.KeyPairs.normalize(b.keyPairBuild, pairs[i].cert, pairs[i].key)
	})
}

// loadCertificate validates the key pair a TLS Secret holds now and
// returns it as the file nginx would read. Only the parsed PEM blocks are
// written, re-encoded, so no stray bytes from the Secret ever reach a file
// nginx reads.
func (b *builder) loadCertificate(namespace, name string, secret *corev1.Secret) (Certificate, error) {
	certPEM, okCert := secret.Data[corev1.TLSCertKey]
	keyPEM, okKey := secret.Data[corev1.TLSPrivateKeyKey]
	if !okCert || !okKey {
		return Certificate{}, fmt.Errorf("must hold %q and %q (type kubernetes.io/tls)", corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	}
	if n := len(certPEM); n > b.limits.CertificateBytes {
		// nginx loads every chain at each nginx -t and reload.
		return Certificate{}, fmt.Errorf("its certificate chain is %d bytes, more than the %d a chain may have (--max-certificate-bytes)", n, b.limits.CertificateBytes)
	}
	content, facts, err := b.opts.KeyPairs.normalize(b.keyPairBuild, certPEM, keyPEM)
	if err != nil {
		return Certificate{}, err
	}
	sum := sha256.Sum256(content)
	p := path.Join(b.opts.CertificateDir, fmt.Sprintf("%s_%s-%s.pem", namespace, name, hex.EncodeToString(sum[:8])))
	return Certificate{Path: p, PEM: content, Secret: key(namespace, name), SecretUID: string(secret.UID),
		NotAfter: facts.notAfter, Info: facts.info}, nil
}

// NormalizeKeyPair checks that a certificate chain and private key are valid
// PEM and belong together, and returns them as one clean PEM file: the
// CERTIFICATE blocks in order, then the key. Errors never quote key material.
func NormalizeKeyPair(certPEM, keyPEM []byte) ([]byte, error) {
	out, _, err := normalizeKeyPair(certPEM, keyPEM)
	return out, err
}

// leafFacts are what the metrics need of a chain's first certificate (the
// one presented), read once when the pair is checked.
type leafFacts struct {
	// notAfter is when it expires, in UTC.
	notAfter time.Time
	// info is its public data.
	info certs.Identity
}

// normalizeKeyPair is NormalizeKeyPair, which also returns the facts of
// the chain's first certificate (the one presented).
func normalizeKeyPair(certPEM, keyPEM []byte) ([]byte, leafFacts, error) {
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, leafFacts{}, fmt.Errorf("invalid certificate or key: %w", err)
	}
	chain, parsed, err := certificateBlocks(certPEM)
	if err != nil {
		return nil, leafFacts{}, fmt.Errorf("invalid certificate in chain: %w", err)
	}
	if len(parsed) == 0 {
		// X509KeyPair found one; certificateBlocks reads the same blocks.
		return nil, leafFacts{}, errors.New("invalid certificate or key: no certificate found")
	}
	if err := opensslAccepts(parsed); err != nil {
		return nil, leafFacts{}, err
	}
	out := bytes.NewBuffer(chain)
	rest := keyPEM
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, leafFacts{}, errors.New("no private key block found")
		}
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			if err := pem.Encode(out, &pem.Block{Type: block.Type, Bytes: block.Bytes}); err != nil {
				return nil, leafFacts{}, fmt.Errorf("encoding key: %w", err)
			}
			return out.Bytes(), leafFacts{notAfter: parsed[0].NotAfter.UTC(), info: certs.IdentityOf(parsed[0])}, nil
		}
	}
}

// defaultCertificate resolves --default-ssl-certificate; when it is unset or
// unusable, Global.DefaultCertificate keeps the fallback the caller set.
func (b *builder) defaultCertificate() {
	spec := b.opts.DefaultSSLCertificate
	if spec == "" {
		return
	}
	namespace, name, ok := strings.Cut(spec, "/")
	if !ok || namespace == "" || name == "" {
		b.ignored(ObjectRef{Kind: "Flag", Name: "default-ssl-certificate"}, ReasonInvalidOption,
			"--default-ssl-certificate %q must be NAMESPACE/NAME; using the self-signed certificate", excerpt.Of(spec))
		return
	}
	r := b.certificate(namespace, name)
	b.certificateFindings(ObjectRef{Kind: "Secret", Namespace: namespace, Name: name}, r, "default SSL certificate",
		"using the self-signed certificate", "for hosts without a usable Secret")
	if r.path != "" {
		b.certificates[r.path] = r.cert
		b.global.DefaultCertificate = r.path
		if leaf, err := firstCertificate(r.cert.PEM); err == nil {
			b.defaultPair = &defaultPair{leaf: leaf, notAfter: r.cert.NotAfter, name: spec}
		}
	}
}

// certificateBlocks keeps only the CERTIFICATE blocks of PEM data, each
// parsed and re-encoded, so no stray bytes reach a file nginx reads.
// opensslAccepts refuses the chains Go accepts and nginx's OpenSSL 3 does
// not at its default security level: an RSA key under 2048 bits ("ee key
// too small") and a certificate signed with MD5 or SHA-1 ("ca md too weak";
// a self-signed one's own signature is not checked). nginx would refuse
// the whole config at nginx -t for everyone, on a server line no Ingress
// path owns.
func opensslAccepts(certs []*x509.Certificate) error {
	for i, c := range certs {
		which := "the certificate"
		if i > 0 {
			which = fmt.Sprintf("certificate %d of the chain", i+1)
		}
		if k, ok := c.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
			return fmt.Errorf("%s has a %d-bit RSA key; nginx's OpenSSL refuses keys under 2048 bits", which, k.N.BitLen())
		}
		selfSigned := bytes.Equal(c.RawIssuer, c.RawSubject)
		switch c.SignatureAlgorithm {
		case x509.MD2WithRSA, x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1:
			if !selfSigned {
				return fmt.Errorf("%s is signed with %s; nginx's OpenSSL refuses MD5 and SHA-1 signatures", which, c.SignatureAlgorithm)
			}
		}
	}
	return nil
}

func certificateBlocks(data []byte) ([]byte, []*x509.Certificate, error) {
	var out bytes.Buffer
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out.Bytes(), certs, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, nil, err
		}
		certs = append(certs, cert)
		if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}); err != nil {
			return nil, nil, fmt.Errorf("encoding certificate: %w", err)
		}
	}
}

// ownNamespaceName resolves a "name" or "namespace/name" reference of an
// Ingress annotation; ok is false when it names another namespace, whose
// objects the model never reads for an Ingress.
func ownNamespaceName(ing *networkingv1.Ingress, ref string) (name string, ok bool) {
	if ns, n, found := strings.Cut(ref, "/"); found {
		return n, ns == ing.Namespace
	}
	return ref, true
}
