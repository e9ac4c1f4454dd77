package model

import (
	"regexp"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// customHeaders reads a custom-headers ConfigMap of the Ingress's namespace.
// Entries that are not a header name and a plain value are skipped with a
// finding; values may not hold "$" because add_header would expand it.
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
		v := cm.Data[k]
		if !headerNamePattern.MatchString(k) || !plainHeaderValue(v) {
			b.ignored(about, ReasonIneffectiveAnnotation, "custom-headers entry %q is skipped: it needs a header name and a value without $ or control characters", excerpt.Of(k))
			continue
		}
		out = append(out, HeaderValue{Name: k, Value: v})
	}
	return out
}

var headerNamePattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func plainHeaderValue(v string) bool {
	if len(v) > 4096 || strings.Contains(v, "$") {
		return false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
