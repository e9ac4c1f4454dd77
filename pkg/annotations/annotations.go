// Package annotations reads the nginx.ingress.kubernetes.io/* annotations
// that ingress-nginx users already have into one typed struct per Ingress.
// Each group of annotations lives in its own file as a table of Fields
// (key, scope, risk, allowed values, one-line doc); the table is the only
// place a key is declared, and docs/annotations.md is generated from it.
// Every value is checked against an allowlist here, before the model sees
// it, and reaches nginx.conf only through the render package's quoting.
package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// DefaultPrefix is ingress-nginx's annotation prefix.
const DefaultPrefix = "nginx.ingress.kubernetes.io"

// Scope says where an annotation takes effect.
type Scope string

// Scopes.
const (
	// ScopeLocation applies to every path of the Ingress.
	ScopeLocation Scope = "location"
)

// Risk says how much a key can change what nginx does, for docs and review.
type Risk string

// Risks.
const (
	RiskLow      Risk = "low"
	RiskMedium   Risk = "medium"
	RiskCritical Risk = "critical"
)

// Field declares one annotation.
type Field struct {
	// Key is the annotation name without the prefix, as ingress-nginx spells it.
	Key string
	// Group is the file (feature) the key belongs to.
	Group string
	// Scope says where it applies.
	Scope Scope
	// Risk rates what a wrong value can do.
	Risk Risk
	// Default is what applies when the key is absent.
	Default string
	// Allowed describes valid values; it is shown in errors and docs.
	Allowed string
	// Doc is a one-line description.
	Doc string
	// FallBack: an invalid plain value (letters, digits, ".", "-", "_")
	// is ignored and the default applies, with an IgnoredValue problem, as
	// ingress-nginx did; only for keys whose default weakens no control.
	FallBack bool
	// apply checks a value and stores it in the Set.
	apply func(value string, into *Set) error
}

// Set is the typed result of parsing one Ingress's annotations.
type Set struct {
	// Proxy holds the proxy behaviour settings.
	Proxy Proxy `json:"proxy"`
	// Access holds who may connect and how fast.
	Access Access `json:"access"`
	// Routing holds redirects and the backend protocol.
	Routing Routing `json:"routing"`
	// CORS holds the cross-origin settings.
	CORS CORS `json:"cors"`
	// Headers holds the backend headers, access log and aliases.
	Headers Headers `json:"headers"`
	// Rewrite holds use-regex and rewrite-target.
	Rewrite Rewrite `json:"rewrite"`
	// Auth holds basic authentication.
	Auth Auth `json:"auth"`
	// Snippets holds raw directives, used only where the operator allows them.
	Snippets Snippets `json:"snippets"`
	// Balance holds the load-balancing method.
	Balance Balance `json:"balance"`
	// ExternalAuth holds the auth-url family.
	ExternalAuth ExternalAuth `json:"externalAuth"`
	// ClientCert holds the auth-tls family.
	ClientCert ClientCert `json:"clientCert"`
	// CustomHeaders names the ConfigMap of response headers.
	CustomHeaders CustomHeaders `json:"customHeaders"`
	// DefaultBackend holds default-backend and custom-http-errors.
	DefaultBackend DefaultBackend `json:"defaultBackend"`
	// ProxySSL holds the proxy-ssl family.
	ProxySSL ProxySSL `json:"proxySSL"`
	// Affinity holds cookie-based session affinity.
	Affinity Affinity `json:"affinity"`
	// ModSecurity holds the enable-modsecurity family.
	ModSecurity ModSecurity `json:"modSecurity"`
	// Canary holds the canary family; call Canary.Check once the Set is complete.
	Canary Canary `json:"canary"`
	// GlobalAuthOff is enable-global-auth "false": the ConfigMap's global
	// external auth does not apply to this Ingress.
	GlobalAuthOff bool `json:"globalAuthOff,omitempty"`
}

// ProblemKind separates values that make an Ingress unusable from keys that are only unknown.
type ProblemKind string

// Problem kinds.
const (
	// Invalid: the value failed its check; the Ingress is not served as written.
	Invalid ProblemKind = "InvalidAnnotation"
	// Unknown: the key is under the prefix but Portico does not implement it.
	Unknown ProblemKind = "UnknownAnnotation"
	// UnsupportedSecurity: the key is unknown to Portico and asks for a
	// security control (security.go); the Ingress is not served without it.
	UnsupportedSecurity ProblemKind = "UnsupportedSecurityAnnotation"
	// Conflict: an older spelling of a renamed key (renamedKeys) set to
	// another value than the current name; the current name wins.
	Conflict ProblemKind = "ConflictingAnnotation"
	// IgnoredValue: an invalid plain value of a FallBack key; the default
	// applies and the Ingress is served.
	IgnoredValue ProblemKind = "IgnoredAnnotationValue"
)

// Problem is one annotation that could not be used.
type Problem struct {
	// Kind says whether the value was invalid or the key unknown.
	Kind ProblemKind
	// Key is the full annotation name.
	Key string
	// Message says what is wrong and what is allowed; the value is truncated.
	Message string
}

// Parser parses annotations under one prefix.
type Parser struct {
	prefix string
	fields map[string]Field
}

// NewParser returns a parser for prefix ("" means DefaultPrefix).
func NewParser(prefix string) *Parser {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	p := &Parser{prefix: strings.TrimSuffix(prefix, "/") + "/", fields: map[string]Field{}}
	for _, f := range Fields() {
		p.fields[f.Key] = f
	}
	return p
}

// plainValue is a value with no nginx syntax in it: only such a value may
// fall back to the default; one with quotes, ";", braces, "$" or spaces is
// refused (Invalid), as it is an injection attempt, not a typo.
var plainValue = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// fallBack marks fields whose invalid plain values fall back to the
// default (Field.FallBack).
func fallBack(fields []Field) []Field {
	for i := range fields {
		fields[i].FallBack = true
	}
	return fields
}

// inGroup puts the fields of one file in its group; every annotation
// applies to the locations of the Ingress's paths (ScopeLocation).
func inGroup(group string, fields []Field) []Field {
	for i := range fields {
		fields[i].Group, fields[i].Scope = group, ScopeLocation
	}
	return fields
}

// Fields lists every supported annotation, sorted by group then key.
func Fields() []Field {
	var all []Field
	all = append(all, proxyFields()...)
	all = append(all, accessFields()...)
	all = append(all, routingFields()...)
	all = append(all, corsFields()...)
	all = append(all, headersFields()...)
	all = append(all, rewriteFields()...)
	all = append(all, authFields()...)
	all = append(all, snippetFields()...)
	all = append(all, balanceFields()...)
	all = append(all, extAuthFields()...)
	all = append(all, globalAuthFields()...)
	all = append(all, clientCertFields()...)
	all = append(all, customHeaderFields()...)
	all = append(all, defaultBackendFields()...)
	all = append(all, proxySSLFields()...)
	all = append(all, affinityFields()...)
	all = append(all, canaryFields()...)
	all = append(all, modSecurityFields()...)
	slices.SortFunc(all, func(a, b Field) int {
		if c := strings.Compare(a.Group, b.Group); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return all
}

// Key returns the full annotation key of a name ("server-alias").
func (p *Parser) Key(name string) string { return p.prefix + name }

// Parse reads the annotations of one Ingress. Keys outside the prefix are
// ignored; keys under it are applied, or reported as Problems in key order.
func (p *Parser) Parse(annotations map[string]string) (Set, []Problem) {
	var keys []string
	for k := range annotations {
		if strings.HasPrefix(k, p.prefix) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		// Most Ingresses: no Set on the heap (the setters take a pointer,
		// which puts the Set there, 1.4 kB a time).
		return Set{}, nil
	}
	set := new(Set)
	var problems []Problem
	slices.Sort(keys)
	for _, k := range keys {
		name := strings.TrimPrefix(k, p.prefix)
		f, ok := p.fields[name]
		if !ok {
			if control := securityControl(name, strings.TrimSpace(annotations[k])); control != "" {
				problems = append(problems, Problem{Kind: UnsupportedSecurity, Key: k,
					Message: fmt.Sprintf("annotation %s asks for %s, which Portico does not implement; serving the Ingress without it would weaken it, so it is not served (remove the annotation or protect the backend another way; see docs/annotations.md)", k, control)})
				continue
			}
			problems = append(problems, Problem{Kind: Unknown, Key: k,
				Message: fmt.Sprintf("annotation %s is not supported by Portico and is ignored; see docs/annotations.md", k)})
			continue
		}
		value := strings.TrimSpace(annotations[k])
		if current, renamed := renamedKeys[name]; renamed {
			if other, both := annotations[p.prefix+current]; both {
				if strings.TrimSpace(other) != value {
					problems = append(problems, Problem{Kind: Conflict, Key: k,
						Message: fmt.Sprintf("annotation %s is ignored: %s is also set, to another value, and wins (as in ingress-nginx); remove one of them", k, p.prefix+current)})
				}
				continue
			}
		}
		if err := f.apply(value, set); err != nil {
			if f.FallBack && plainValue.MatchString(value) {
				problems = append(problems, Problem{Kind: IgnoredValue, Key: k,
					Message: fmt.Sprintf("annotation %s: value %q %v (allowed: %s); it is ignored and the default applies, as in ingress-nginx", k, excerpt.Of(value), err, f.Allowed)})
				continue
			}
			problems = append(problems, Problem{Kind: Invalid, Key: k,
				Message: fmt.Sprintf("annotation %s: value %q %v (allowed: %s)", k, excerpt.Of(value), err, f.Allowed)})
		}
	}
	if err := set.checkLocationClashes(); err != nil {
		k := p.Key("configuration-snippet")
		problems = append(problems, Problem{Kind: Invalid, Key: k,
			Message: fmt.Sprintf("annotation %s: %v (allowed: %s)", k, err, p.fields["configuration-snippet"].Allowed)})
		slices.SortStableFunc(problems, func(a, b Problem) int { return strings.Compare(a.Key, b.Key) })
		set.Snippets.Location = nil
	}
	return *set, problems
}

// checkObjectRef validates "name" or "namespace/name" naming a Secret or
// ConfigMap; kind goes into the error. The model then only reads objects
// of the Ingress's own namespace.
func checkObjectRef(v, kind string) error {
	name := v
	if ns, n, ok := strings.Cut(v, "/"); ok {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return errors.New("has an invalid namespace")
		}
		name = n
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return errors.New("is not a " + kind + " name")
	}
	return nil
}
