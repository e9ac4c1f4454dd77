package annotations

// CustomHeaders names a ConfigMap whose entries become response headers.
type CustomHeaders struct {
	// ConfigMap is "name" or "namespace/name" (same namespace only).
	ConfigMap string `json:"configMap,omitempty"`
}

func customHeaderFields() []Field {
	return inGroup("headers", []Field{{
		Key: "custom-headers", Risk: RiskMedium,
		Default: "", Allowed: "a ConfigMap in the Ingress's namespace",
		Doc: "add each entry of the ConfigMap (header: value) to the responses",
		apply: func(v string, s *Set) error {
			if err := checkObjectRef(v, "ConfigMap"); err != nil {
				return err
			}
			s.CustomHeaders.ConfigMap = v
			return nil
		},
	}})
}
