package model

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/excerpt"
)

// clientCert loads the CA of auth-tls-secret (same namespace only). A
// missing or bad CA fails closed: the Ingress's paths answer 503.
func (b *builder) clientCert(ing *networkingv1.Ingress, cc annotations.ClientCert) (*ServerClientCert, bool) {
	ref := ingressRef(ing)
	name, own := ownNamespaceName(ing, cc.Secret)
	if !own {
		b.notServed(ref, ReasonInvalidAuthSecret, "auth-tls-secret %q is in another namespace; requests get 503", excerpt.Of(cc.Secret))
		return nil, true
	}
	secret, ok := b.secret(key(ing.Namespace, name))
	if !ok {
		b.notServed(ref, ReasonInvalidAuthSecret, "auth-tls-secret %s/%s not found; requests get 503", ing.Namespace, name)
		return nil, true
	}
	pemCA, err := normalizeCA(secret.Data["ca.crt"])
	if err != nil {
		b.notServed(ref, ReasonInvalidAuthSecret, "auth-tls-secret %s/%s: %v; requests get 503", ing.Namespace, name, err)
		return nil, true
	}
	sum := sha256.Sum256(pemCA)
	p := path.Join(b.opts.CertificateDir, "ca-"+hex.EncodeToString(sum[:10])+".pem")
	b.certificates[p] = Certificate{Path: p, PEM: pemCA}
	verify := cc.Verify
	if verify == "" {
		verify = "on"
	}
	depth := cc.Depth
	if depth == 0 {
		depth = 1
	}
	return &ServerClientCert{CAFile: p, Verify: verify, Depth: depth, Source: key(ing.Namespace, ing.Name)}, false
}

// normalizeCA keeps the CERTIFICATE blocks of ca.crt, re-encoded, and
// requires at least one CA certificate.
func normalizeCA(data []byte) ([]byte, error) {
	out, certs, err := certificateBlocks(data)
	if err != nil {
		return nil, fmt.Errorf("ca.crt holds an invalid certificate: %w", err)
	}
	for _, c := range certs {
		if c.IsCA {
			return out, nil
		}
	}
	return nil, errors.New(`key "ca.crt" holds no CA certificate`)
}
