package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Balance is how requests spread over a Service's endpoints.
type Balance struct {
	// Method is "round_robin" (default), "least_conn" or "ewma" (the Lua balancer's
	// latency-weighted choice).
	Method string `json:"method,omitempty"`
	// HashBy is an nginx variable expression for consistent hashing, e.g. "$request_uri".
	HashBy string `json:"hashBy,omitempty"`
	// ServiceUpstream proxies to the Service's cluster IP instead of its
	// endpoints (service meshes such as Linkerd ask for it).
	ServiceUpstream bool `json:"serviceUpstream,omitempty"`
}

// hashByValue allowlists one or more nginx variables, nothing else: a
// variable is what ingress-nginx users hash by, and only variables expand.
var hashByValue = regexp.MustCompile(`^(\$[A-Za-z_][A-Za-z0-9_]{0,63}){1,4}$`)

func balanceFields() []Field {
	return inGroup("balance", []Field{
		{Key: "load-balance", Default: "round_robin", Allowed: "round_robin, least_conn, ewma", Risk: RiskLow,
			Doc: "how requests spread over the endpoints",
			apply: func(v string, s *Set) error {
				switch v {
				case "round_robin", "least_conn", "ewma":
					s.Balance.Method = v
					return nil
				}
				return errors.New("is not round_robin, least_conn or ewma")
			}},
		{Key: "upstream-hash-by", Default: "", Allowed: "nginx variables, e.g. $request_uri or $cookie_user", Risk: RiskLow,
			Doc: "send requests with the same value to the same endpoint (consistent hashing)",
			apply: func(v string, s *Set) error {
				if !hashByValue.MatchString(v) {
					return errors.New("is not one to four nginx variables like $request_uri")
				}
				// With upstream blocks the key is a hash directive: a variable
				// nginx does not know would fail nginx -t for every Ingress.
				for _, name := range strings.Split(v, "$")[1:] {
					if !readableVariable(strings.ToLower(name), nil) {
						return fmt.Errorf("uses $%s, which is not an nginx variable Portico lets Ingresses read", name)
					}
				}
				s.Balance.HashBy = v
				return nil
			}},
		{Key: "service-upstream", Default: "false", Allowed: "true, false", Risk: RiskLow,
			Doc: "proxy to the Service's cluster IP instead of its endpoints (kube-proxy or a service mesh picks the Pod; a headless Service keeps its endpoints)",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.Balance.ServiceUpstream = b
				return nil
			}},
	})
}
