package model

import (
	"crypto/sha256"
	"encoding/hex"
	"path"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/excerpt"
)

// proxySSL resolves the proxy-ssl family for an Ingress whose backends
// speak TLS. The Secret must be in the Ingress's namespace. Whatever asks
// for verification or a client certificate and cannot have it fails closed
// (the second result: requests get 503): proxying without the check would
// send traffic to a backend nobody vouched for.
func (b *builder) proxySSL(ing *networkingv1.Ingress, ps annotations.ProxySSL, protocol string) (*ProxySSL, bool) {
	ref := ingressRef(ing)
	if protocol != "HTTPS" && protocol != "GRPCS" {
		if ps.Verify == "on" || ps.Secret != "" {
			b.notServed(ref, ReasonInvalidProxySSL, "proxy-ssl annotations need backend-protocol HTTPS or GRPCS; requests get 503")
			return nil, true
		}
		b.ignored(ref, ReasonIneffectiveAnnotation, "proxy-ssl annotations have no effect without backend-protocol HTTPS or GRPCS")
		return nil, false
	}
	out := &ProxySSL{Verify: "off", ServerName: "off", Name: ps.Name}
	if ps.Verify != "" {
		out.Verify = ps.Verify
	}
	if ps.ServerName != "" {
		out.ServerName = ps.ServerName
	}
	if ps.Secret == "" {
		if out.Verify == "on" {
			b.notServed(ref, ReasonInvalidAuthSecret, "proxy-ssl-verify on needs proxy-ssl-secret with ca.crt; requests get 503")
			return nil, true
		}
		return out, false
	}
	name, own := ownNamespaceName(ing, ps.Secret)
	if !own {
		b.notServed(ref, ReasonInvalidAuthSecret, "proxy-ssl-secret %q is in another namespace; requests get 503", excerpt.Of(ps.Secret))
		return nil, true
	}
	secret, ok := b.secret(key(ing.Namespace, name))
	if !ok {
		b.notServed(ref, ReasonInvalidAuthSecret, "proxy-ssl-secret %s/%s not found; requests get 503", ing.Namespace, name)
		return nil, true
	}
	pemCA, err := normalizeCA(secret.Data["ca.crt"])
	if err != nil {
		b.notServed(ref, ReasonInvalidAuthSecret, "proxy-ssl-secret %s/%s: %v; requests get 503", ing.Namespace, name, err)
		return nil, true
	}
	sum := sha256.Sum256(pemCA)
	out.TrustedCertificate = path.Join(b.opts.CertificateDir, "ca-"+hex.EncodeToString(sum[:10])+".pem")
	b.certificates[out.TrustedCertificate] = Certificate{Path: out.TrustedCertificate, PEM: pemCA}

	certPEM, hasCert := secret.Data[corev1.TLSCertKey]
	keyPEM, hasKey := secret.Data[corev1.TLSPrivateKeyKey]
	if hasCert || hasKey {
		pair, err := NormalizeKeyPair(certPEM, keyPEM)
		if err != nil {
			b.notServed(ref, ReasonInvalidAuthSecret, "proxy-ssl-secret %s/%s: client certificate: %v; requests get 503", ing.Namespace, name, err)
			return nil, true
		}
		sum := sha256.Sum256(pair)
		out.Certificate = path.Join(b.opts.CertificateDir, "proxy-"+hex.EncodeToString(sum[:10])+".pem")
		b.certificates[out.Certificate] = Certificate{Path: out.Certificate, PEM: pair}
	}
	return out, false
}
