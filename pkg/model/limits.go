package model

import (
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
)

// Limits bound what one object may cost every tenant: each path, host and
// regex is a location nginx parses at every nginx -t and reload, and the
// controller renders at every sync. An Ingress with 10,000 paths made every
// sync render for 1.4 s and every nginx -t take 6.5 s, for everyone's
// changes. The defaults are far above what real clusters write; an object
// over a bound is not served (its last accepted version keeps serving) and
// gets a finding that names the bound and its flag. Zero means the default.
type Limits struct {
	// HostsPerIngress bounds the rules (hosts) of one Ingress.
	HostsPerIngress int `json:"hostsPerIngress,omitempty"`
	// PathsPerIngress bounds the paths of one Ingress, over all its rules.
	PathsPerIngress int `json:"pathsPerIngress,omitempty"`
	// AnnotationBytes bounds the bytes of one Ingress's annotation values
	// under the annotation prefix.
	AnnotationBytes int `json:"annotationBytes,omitempty"`
	// SnippetBytes bounds each snippet annotation's value.
	SnippetBytes int `json:"snippetBytes,omitempty"`
	// RegexPathsPerHost bounds the regex locations of one host: nginx tries
	// them in turn for every request, and they share one budget of PCRE
	// steps (regexStepBudget).
	RegexPathsPerHost int `json:"regexPathsPerHost,omitempty"`
	// CertificateBytes bounds a TLS Secret's certificate chain (tls.crt).
	CertificateBytes int `json:"certificateBytes,omitempty"`
}

// DefaultLimits are the bounds when Options.Limits leaves one at zero.
func DefaultLimits() Limits {
	return Limits{
		HostsPerIngress:   1000,
		PathsPerIngress:   2000,
		AnnotationBytes:   64 << 10,
		SnippetBytes:      16 << 10,
		RegexPathsPerHost: 100,
		CertificateBytes:  64 << 10,
	}
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	return Limits{
		HostsPerIngress:   pick(l.HostsPerIngress, d.HostsPerIngress),
		PathsPerIngress:   pick(l.PathsPerIngress, d.PathsPerIngress),
		AnnotationBytes:   pick(l.AnnotationBytes, d.AnnotationBytes),
		SnippetBytes:      pick(l.SnippetBytes, d.SnippetBytes),
		RegexPathsPerHost: pick(l.RegexPathsPerHost, d.RegexPathsPerHost),
		CertificateBytes:  pick(l.CertificateBytes, d.CertificateBytes),
	}
}

// overLimit says which bound an Ingress exceeds, or "" when none: the
// checks cost a pass over its rules and annotations, before any of it is
// parsed or translated.
func (b *builder) overLimit(ing *networkingv1.Ingress) string {
	l := b.limits
	if n := len(ing.Spec.Rules); n > l.HostsPerIngress {
		return fmt.Sprintf("it has %d rules, more than the %d hosts an Ingress may have (--max-hosts-per-ingress)", n, l.HostsPerIngress)
	}
	paths := 0
	for i := range ing.Spec.Rules {
		if h := ing.Spec.Rules[i].HTTP; h != nil {
			paths += len(h.Paths)
		}
	}
	if paths > l.PathsPerIngress {
		return fmt.Sprintf("it has %d paths, more than the %d an Ingress may have (--max-paths-per-ingress)", paths, l.PathsPerIngress)
	}
	prefix := b.parser.Key("")
	total := 0
	for k, v := range ing.Annotations {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		total += len(v)
		if name := strings.TrimPrefix(k, prefix); (name == "configuration-snippet" || name == "server-snippet") && len(v) > l.SnippetBytes {
			return fmt.Sprintf("its %s is %d bytes, more than the %d a snippet may have (--max-snippet-bytes)", name, len(v), l.SnippetBytes)
		}
	}
	if total > l.AnnotationBytes {
		return fmt.Sprintf("its annotations are %d bytes, more than the %d an Ingress may have (--max-annotation-bytes)", total, l.AnnotationBytes)
	}
	return ""
}
