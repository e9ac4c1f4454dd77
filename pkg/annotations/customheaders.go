package annotations

import (
	"errors"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// CustomHeaders names a ConfigMap whose entries become response headers.
type CustomHeaders struct {
	// ConfigMap is "name" or "namespace/name" (same namespace only).
	ConfigMap string `json:"configMap,omitempty"`
}

func customHeaderFields() []Field {
	return []Field{{
		Key: "custom-headers", Group: "headers", Scope: ScopeLocation, Risk: RiskMedium,
		Default: "", Allowed: "a ConfigMap in the Ingress's namespace",
		Doc: "add each entry of the ConfigMap (header: value) to the responses",
		apply: func(v string, s *Set) error {
			name := v
			if ns, n, ok := strings.Cut(v, "/"); ok {
				if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
					return errors.New("has an invalid namespace")
				}
				name = n
			}
			if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
				return errors.New("is not a ConfigMap name")
			}
			s.CustomHeaders.ConfigMap = v
			return nil
		},
	}}
}
