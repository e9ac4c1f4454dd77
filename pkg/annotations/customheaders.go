package annotations

import (
	"slices"
	"strings"
)

// CustomHeaders names a ConfigMap whose entries become response headers.
type CustomHeaders struct {
	// ConfigMap is "name" or "namespace/name" (same namespace only).
	ConfigMap string `json:"configMap,omitempty"`
}

func customHeaderFields() []Field {
	return inGroup("headers", []Field{{
		Key: "custom-headers", Risk: RiskMedium,
		Default: "", Allowed: "a ConfigMap in the Ingress's namespace; its values may name nginx variables of the allowlist (below) but the client's credentials",
		Doc: "add each entry of the ConfigMap (header: value) to the responses; an entry with another variable, or naming a header that frames the response (Content-Length, Transfer-Encoding, Connection...), is skipped with a warning",
		apply: func(v string, s *Set) error {
			if err := checkObjectRef(v, "ConfigMap"); err != nil {
				return err
			}
			s.CustomHeaders.ConfigMap = v
			return nil
		},
	}})
}

// framingHeaders are the headers nginx uses to delimit a message or that
// belong to one connection (hop-by-hop), in lower case. A second
// Content-Length or Transfer-Encoding (add_header appends one), or a
// replaced one (more_set_headers), makes nginx send a body of another
// length than announced: a proxy in front, which shares its connections to
// nginx among every host, then reads the rest as the answer to another
// client's request (measured on nginx 1.22 with more_set_headers
// "Content-Length: 1": the next response on the connection began with the
// body's remainder).
var framingHeaders = []string{"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade",
	"te", "trailer", "proxy-connection"}

// FramingHeader reports whether name (any case) is a header that frames
// the message or belongs to the connection; no user value may set or
// clear one.
func FramingHeader(name string) bool {
	return slices.Contains(framingHeaders, strings.ToLower(name))
}
