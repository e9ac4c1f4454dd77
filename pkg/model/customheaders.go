package model

import (
	"fmt"
	"regexp"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/excerpt"
	"github.com/portico-ingress/portico/pkg/ngxvar"
)

// customHeaders reads a custom-headers ConfigMap of the Ingress's namespace.
// An entry whose name is not a header name Portico lets a tenant set, or
// whose value is not literal text and variables of the ngxvar allowlist, is
// skipped with a finding that says why.
func (b *builder) customHeaders(ing *networkingv1.Ingress, ref string) []HeaderValue {
	about := ingressRef(ing)
	name, own := ownNamespaceName(ing, ref)
	if !own {
		b.ignored(about, ReasonIneffectiveAnnotation, "custom-headers ConfigMap %q is in another namespace and is not used", excerpt.Of(ref))
		return nil
	}
	cm, ok := b.configMap(key(ing.Namespace, name))
	if !ok {
		b.ignored(about, ReasonConfigMapNotFound, "custom-headers ConfigMap %s/%s not found; no headers added", ing.Namespace, name)
		return nil
	}
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []HeaderValue
	for _, k := range keys {
		if !headerNamePattern.MatchString(k) {
			b.ignored(about, ReasonIneffectiveAnnotation, "custom-headers entry %q is skipped: it is not a header name (letters, digits and -, up to 64)", excerpt.Of(k))
			continue
		}
		if annotations.FramingHeader(k) {
			b.ignored(about, ReasonIneffectiveAnnotation, "custom-headers entry %q is skipped: nginx frames the response with it (a second one "+
				"would desynchronise connections that proxies in front share between hosts)", k)
			continue
		}
		v, err := customHeaderValue(cm.Data[k])
		if err != nil {
			b.ignored(about, ReasonIneffectiveAnnotation, "custom-headers entry %q is skipped: its value %v", excerpt.Of(k), err)
			continue
		}
		out = append(out, HeaderValue{Name: k, Value: v})
	}
	return out
}

var headerNamePattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// customHeaderValue parses a custom-headers value into literals and
// variables of the ngxvar allowlist and renders it back from the parts
// (add_header expands variables). One holding the client's credentials
// would echo them, so it is refused.
func customHeaderValue(v string) (string, error) {
	val, err := ngxvar.Parse(v)
	if err != nil {
		return "", err
	}
	for _, name := range val.Vars() {
		// ngxvar refuses $uri, which nginx percent-decodes. Echoed in a
		// response, a cookie marked HttpOnly becomes readable to the page's
		// scripts, and credentials land in caches.
		if ngxvar.Credential(name) {
			return "", fmt.Errorf("names $%s, the client's credentials, which a response header would hand to scripts and caches", name)
		}
	}
	return val.String(), nil
}
