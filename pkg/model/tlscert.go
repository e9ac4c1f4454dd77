package model

import (
	"cmp"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"path"
	"slices"
	"strings"
	"time"
)

// Which key pair a TLS Secret serves. A Secret whose content turns bad (a
// key that does not match, garbage PEM, a missing tls.key) keeps serving
// the pair it last served (Options.LastCertificates), as an Ingress whose
// annotations turn invalid keeps its last accepted version: an edit must
// not replace a working certificate with the self-signed one. A Secret
// that was never good, or was deleted, gets the default certificate as
// before: there is nothing of its own to keep, and a deleted Secret may
// have been deleted because its key leaked.
//
// Expiry is judged against Options.Now, an input, so that Build stays
// deterministic. An expired certificate is never served silently: the
// Secret's last accepted pair serves instead while that one is valid, or
// else the --default-ssl-certificate pair when it is valid and made for
// the hosts; with nothing better at hand the expired certificate keeps
// serving (clients then see why they fail, and those that do not check
// dates go on working) with a CertificateExpired finding, as loud as any
// other.

// certResult is what a build chose for one TLS Secret.
type certResult struct {
	// path is the file served, "" when the Secret has no pair to serve
	// (the default certificate serves instead); cert is that file.
	path string
	cert Certificate
	// err says what is wrong with the Secret as it is now; nil when its
	// pair is valid.
	err error
	// kept says the pair served is the last accepted one, not the
	// Secret's current content (err, or the current certificate expired).
	kept bool
	// expiredAt is when the Secret's current certificate expired, when it
	// has and a kept pair serves instead; zero otherwise.
	expiredAt time.Time
	// expired and soon say the certificate served has expired, or expires
	// within Options.CertificateExpiryWarning.
	expired, soon bool
}

// chooseCertificate picks the pair a TLS Secret serves: its current pair
// when valid and not expired, else its last accepted pair when that is
// better, else the current pair even expired, else none.
func (b *builder) chooseCertificate(namespace, name string) certResult {
	secret, ok := b.secret(key(namespace, name))
	if !ok {
		return certResult{err: errSecretNotFound}
	}
	cur, err := b.loadCertificate(namespace, name, secret)
	if err != nil {
		last, ok := b.lastCertificate(key(namespace, name), string(secret.UID))
		if !ok {
			return certResult{err: err}
		}
		r := certResult{path: last.Path, cert: last, err: err, kept: true}
		r.expired, r.soon = b.expiry(last.NotAfter)
		return r
	}
	r := certResult{path: cur.Path, cert: cur}
	r.expired, r.soon = b.expiry(cur.NotAfter)
	if !r.expired {
		return r
	}
	last, ok := b.lastCertificate(key(namespace, name), string(secret.UID))
	if !ok || last.Path == cur.Path {
		return r
	}
	if expired, soon := b.expiry(last.NotAfter); !expired {
		return certResult{path: last.Path, cert: last, kept: true, expiredAt: cur.NotAfter, soon: soon}
	}
	return r
}

// lastCertificate finds the pair the Secret k (with this UID) served in
// the live config, in Options.LastCertificates, sorted by Path: the
// Secret's files are named "namespace_name-HASH.pem", and neither
// namespaces nor names hold "_".
func (b *builder) lastCertificate(k, uid string) (Certificate, bool) {
	list := b.opts.LastCertificates
	if len(list) == 0 {
		return Certificate{}, false
	}
	b.usedLast = true // the output depends on an input units do not key on
	namespace, name, _ := strings.Cut(k, "/")
	prefix := path.Join(b.opts.CertificateDir, namespace+"_"+name+"-")
	i, _ := slices.BinarySearchFunc(list, prefix, func(c Certificate, p string) int { return cmp.Compare(c.Path, p) })
	for ; i < len(list) && strings.HasPrefix(list[i].Path, prefix); i++ {
		if c := list[i]; c.Secret == k && c.SecretUID == uid {
			return c, true
		}
	}
	return Certificate{}, false
}

// expiry says whether a certificate expiring at notAfter has expired at
// Options.Now, or expires within the warning window; both false without
// a clock.
func (b *builder) expiry(notAfter time.Time) (expired, soon bool) {
	if b.opts.Now.IsZero() {
		return false, false
	}
	if b.reached(notAfter) {
		return true, false
	}
	w := b.opts.CertificateExpiryWarning
	return false, w > 0 && b.reached(notAfter.Add(-w))
}

// certificateFindings reports what became of a TLS Secret's pair: subject
// names the use ("TLS Secret ns/name"), fallback what serves without a
// pair ("serving the default certificate for HOSTS"), and hosts the hosts
// served ("for HOSTS").
func (b *builder) certificateFindings(ref ObjectRef, r certResult, subject, fallback, hosts string) {
	switch {
	case r.err != nil && !r.kept:
		reason := ReasonInvalidCertificate
		if errors.Is(r.err, errSecretNotFound) {
			reason = ReasonSecretNotFound
		}
		b.ignored(ref, reason, "%s: %v; %s", subject, r.err, fallback)
	case r.err != nil:
		b.ignored(ref, ReasonInvalidSecretKeptLastGood, "%s: %v; still serving its last accepted certificate (valid until %s) %s",
			subject, r.err, stamp(r.cert.NotAfter), hosts)
	case !r.expiredAt.IsZero():
		b.ignored(ref, ReasonCertificateExpired, "%s: its certificate expired at %s; still serving its last accepted certificate (valid until %s) %s",
			subject, stamp(r.expiredAt), stamp(r.cert.NotAfter), hosts)
	}
	switch {
	case r.expired:
		b.servedBut(ref, ReasonCertificateExpired, "%s: the certificate served %s expired at %s, and there is no valid one to serve instead: "+
			"clients that check certificates fail until the Secret holds a renewed one", subject, hosts, stamp(r.cert.NotAfter))
	case r.soon:
		b.servedBut(ref, ReasonCertificateExpiresSoon, "%s: the certificate served %s expires at %s (--certificate-expiry-warning %s); renew it",
			subject, hosts, stamp(r.cert.NotAfter), b.opts.CertificateExpiryWarning)
	}
}

// defaultPair is the --default-ssl-certificate pair the build serves.
type defaultPair struct {
	leaf     *x509.Certificate
	notAfter time.Time
	name     string // "namespace/name"
}

// defaultCovers reports whether the --default-ssl-certificate pair is
// better than an expired certificate for hosts: valid now, and for every
// one of their names (a wildcard default certificate often is). The
// self-signed fallback never is.
func (b *builder) defaultCovers(hosts []string) bool {
	d := b.defaultPair
	if d == nil {
		return false
	}
	if expired, _ := b.expiry(d.notAfter); expired {
		return false
	}
	for _, h := range hosts {
		if h == "" || d.leaf.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// expiredForDefault reports a TLS Secret whose certificate has expired,
// with nothing valid of its own, for hosts the default certificate serves
// instead (defaultCovers).
func (b *builder) expiredForDefault(ref ObjectRef, r certResult, subject, hosts string) {
	d := b.defaultPair
	if r.err != nil {
		b.ignored(ref, ReasonInvalidCertificate, "%s: %v; its last accepted certificate expired at %s too: serving the default certificate "+
			"(--default-ssl-certificate %s), which is valid for %s until %s, instead", subject, r.err, stamp(r.cert.NotAfter), d.name, hosts, stamp(d.notAfter))
		return
	}
	b.ignored(ref, ReasonCertificateExpired, "%s: its certificate expired at %s: serving the default certificate "+
		"(--default-ssl-certificate %s), which is valid for %s until %s, instead", subject, stamp(r.cert.NotAfter), d.name, hosts, stamp(d.notAfter))
}

// firstCertificate parses the first CERTIFICATE block of PEM data.
func firstCertificate(data []byte) (*x509.Certificate, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, errors.New("no certificate found")
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// stamp formats an instant for findings: absolute, so that a finding stays
// the same from build to build until its meaning changes.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// timeBounds is the span of Options.Now in which every comparison a build
// made with it gives the same answer (zero ends: unbounded). A unit's
// output is reused only while Now stays in it (units.go), and its end is
// Config.RecheckAt.
type timeBounds struct {
	from, until time.Time
}

// reached reports whether Options.Now has reached t, narrowing b's bounds.
func (b *builder) reached(t time.Time) bool {
	if !b.opts.Now.Before(t) {
		if b.clock.from.IsZero() || t.After(b.clock.from) {
			b.clock.from = t
		}
		return true
	}
	if b.clock.until.IsZero() || t.Before(b.clock.until) {
		b.clock.until = t
	}
	return false
}

// holds reports whether now is within the bounds.
func (t timeBounds) holds(now time.Time) bool {
	return (t.from.IsZero() || !now.Before(t.from)) && (t.until.IsZero() || now.Before(t.until))
}

// earliest returns the earlier of two ends, zero meaning none.
func earliest(a, c time.Time) time.Time {
	if a.IsZero() || (!c.IsZero() && c.Before(a)) {
		return c
	}
	return a
}
