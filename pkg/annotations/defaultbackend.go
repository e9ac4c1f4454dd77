package annotations

import (
	"errors"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// DefaultBackend is ingress-nginx's default-backend and custom-http-errors:
// a Service of the Ingress's namespace that answers when the Ingress's own
// backends cannot.
type DefaultBackend struct {
	// Service is the Service name, in the Ingress's namespace.
	Service string `json:"service,omitempty"`
	// Port is the Service port's number or name; "" means its first port.
	Port string `json:"port,omitempty"`
	// CustomHTTPErrors are backend status codes the default backend answers instead, sorted.
	CustomHTTPErrors []int `json:"customHTTPErrors,omitempty"`
}

// maxCustomErrors bounds the error_page lines and named locations one Ingress adds.
const maxCustomErrors = 32

func defaultBackendFields() []Field {
	return inGroup("default-backend", []Field{
		{Key: "default-backend", Default: "", Allowed: "a Service name of the Ingress's namespace, optionally :PORT (number or name; default its first port)", Risk: RiskLow,
			Doc: "serve the Ingress's paths from this Service while their own has no ready endpoints, and unmatched paths of its hosts",
			apply: func(v string, s *Set) error {
				name, port, hasPort := strings.Cut(v, ":")
				if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
					return errors.New("is not a Service name")
				}
				if hasPort {
					if n, err := strconv.Atoi(port); err == nil {
						if n < 1 || n > 65535 {
							return errors.New("has a port outside 1 to 65535")
						}
					} else if errs := validation.IsValidPortName(port); len(errs) > 0 {
						return errors.New("has a port that is neither a number nor a port name")
					}
				}
				s.DefaultBackend.Service, s.DefaultBackend.Port = name, port
				return nil
			}},
		{Key: "custom-http-errors", Default: "", Allowed: "comma-separated status codes from 400 to 599 (at most 32)", Risk: RiskLow,
			Doc: "with default-backend: backend answers with these codes are replaced by the default backend's (header X-Code has the code)",
			apply: func(v string, s *Set) error {
				var codes []int
				for _, c := range strings.Split(v, ",") {
					c = strings.TrimSpace(c)
					if c == "" {
						continue
					}
					n, err := strconv.Atoi(c)
					if err != nil || n < 400 || n > 599 {
						return errors.New("has a code that is not a number from 400 to 599: " + strconv.Quote(excerpt.Of(c)))
					}
					codes = append(codes, n)
				}
				slices.Sort(codes)
				codes = slices.Compact(codes)
				if len(codes) == 0 || len(codes) > maxCustomErrors {
					return errors.New("must list 1 to 32 status codes")
				}
				s.DefaultBackend.CustomHTTPErrors = codes
				return nil
			}},
	})
}
