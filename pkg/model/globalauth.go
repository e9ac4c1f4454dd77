package model

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/excerpt"
)

// ReasonGlobalAuthUnavailable: an Ingress that would use the ConfigMap's
// global external auth is not served (its paths answer 503), because the
// global auth is refused and none was accepted before.
const ReasonGlobalAuthUnavailable = "GlobalAuthUnavailable"

// authLocationPrefix starts the paths of the internal auth locations; no
// Ingress path may start with it (claimOf).
const authLocationPrefix = "/_portico_auth_"

// globalAuthPath is the internal location the global auth subrequests go
// to. Its settings are the same for every Ingress, so each server needs one.
const globalAuthPath = authLocationPrefix + "global"

// globalAuthOwner stands in for the Ingress the global auth settings are
// built for (useGlobalAuth). No Ingress has an empty namespace, so its
// hashID is no Ingress's.
func globalAuthOwner() *networkingv1.Ingress {
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "global-auth"}}
}

// GlobalAuth is the external auth of the options ConfigMap's global-auth-*
// keys (ingress-nginx's global external auth): every Ingress path without
// its own auth-url and without enable-global-auth "false" asks it.
type GlobalAuth struct {
	// Auth are the settings, checked by the auth-* annotations' own Fields;
	// URL is set unless Refused is.
	Auth annotations.ExternalAuth `json:"auth"`
	// Refused, when set, says why the ConfigMap's global auth cannot be
	// honoured while none was accepted before: the paths that would use it
	// answer 503 (fail closed) rather than go unchecked.
	Refused string `json:"refused,omitempty"`
	// Exempt are the path prefixes that skip it (no-auth-locations,
	// validated paths): ingress-nginx's default lets ACME HTTP-01
	// challenges through, which cert-manager's solver Ingresses need.
	Exempt []string `json:"exempt,omitempty"`
}

// noAuthLocationsKey is ingress-nginx's ConfigMap key of the paths that
// skip the global auth, and defaultNoAuthLocations its default.
const (
	noAuthLocationsKey     = "no-auth-locations"
	defaultNoAuthLocations = "/.well-known/acme-challenge"
	maxNoAuthLocations     = 64
)

// parseNoAuthLocations reads no-auth-locations: comma-separated paths,
// each an Ingress path (validatePath), at most maxNoAuthLocations; empty
// means none.
func parseNoAuthLocations(v string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if err := validatePath(p); err != nil {
			return nil, fmt.Errorf("%s: %q: %w", noAuthLocationsKey, excerpt.Of(p), err)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) > maxNoAuthLocations {
		return nil, fmt.Errorf("%s: lists more than %d paths", noAuthLocationsKey, maxNoAuthLocations)
	}
	return out, nil
}

// exemptPath reports whether a location's path starts with one of the
// exempt prefixes, as ingress-nginx compares them. A regex location's
// path starts with "^" and is never exempt.
func exemptPath(exempt []string, path string) bool {
	for _, p := range exempt {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// globalAuthOptions declares the global-auth-* keys for the option table
// (docs and the unknown-key check). Their apply is nil: applyGlobalAuth
// checks them together, each with the Field of its auth-* annotation.
func globalAuthOptions() []GlobalOption {
	var out []GlobalOption
	for _, k := range annotations.GlobalAuthKeys() {
		doc := "global external auth, checked as the annotation " + k.Annotation + " (" + k.Allowed + "): " + k.Doc
		if k.Key == annotations.GlobalAuthPrefix+"url" {
			doc += "; every Ingress path without its own auth-url and without the annotation enable-global-auth \"false\" asks it. " +
				"A refused global-auth-* value keeps the last accepted global auth; with none, those paths answer 503"
		}
		if !k.Implemented {
			doc = "not implemented yet (the annotation " + k.Annotation + " is not): setting it refuses the global auth, " +
				"which then keeps the last accepted one, or makes the paths that would use it answer 503 (fail closed)"
		}
		out = append(out, GlobalOption{Key: k.Key, Default: "(none)", Doc: doc})
	}
	out = append(out, GlobalOption{Key: noAuthLocationsKey, Default: defaultNoAuthLocations,
		Doc: "comma-separated path prefixes (Ingress paths, at most 64) whose locations skip the global auth, so that ACME HTTP-01 " +
			"challenges (cert-manager) pass; empty for none. Unlike ingress-nginx it never exempts an Ingress's own auth-url. " +
			"A bad value refuses the global auth like a bad global-auth-* value"})
	return out
}

// applyGlobalAuth reads the global-auth-* keys of the options ConfigMap
// into b.global.GlobalAuth. They are one control protecting every Ingress,
// so they are accepted or refused together, and a refusal never switches
// the authentication off: the last accepted global auth
// (Options.LastGlobalAuth) stays, or, with none, the paths that would use
// it answer 503.
func (b *builder) applyGlobalAuth(cm *corev1.ConfigMap, ref ObjectRef) {
	auth, errs := annotations.ParseGlobalAuth(cm.Data)
	var why []string
	for _, e := range errs {
		why = append(why, e.Error())
	}
	noAuth, ok := cm.Data[noAuthLocationsKey]
	if !ok {
		noAuth = defaultNoAuthLocations
	}
	exempt, err := parseNoAuthLocations(noAuth)
	if err != nil {
		why = append(why, err.Error())
	}
	if len(errs) == 0 && auth.URL == "" {
		if !reflect.ValueOf(auth).IsZero() {
			b.ignored(ref, ReasonIneffectiveOption, "global-auth-* keys are set without global-auth-url: there is no global auth and they are ignored")
		}
		if err != nil {
			b.ignored(ref, ReasonInvalidOption, "%v; it is ignored, as there is no global auth", err)
		}
		return
	}
	if len(why) == 0 {
		why = b.globalAuthRefusals(auth)
	}
	if len(why) == 0 {
		if auth.CacheKey == "" && len(auth.CacheDuration) > 0 {
			b.ignored(ref, ReasonIneffectiveOption, "global-auth-cache-duration has no effect without global-auth-cache-key; global auth answers are not cached")
		}
		b.global.GlobalAuth = &GlobalAuth{Auth: auth, Exempt: exempt}
		return
	}
	msg := strings.Join(why, "; ")
	if last := b.opts.LastGlobalAuth; last != nil && last.Refused == "" && last.Auth.URL != "" && len(b.globalAuthRefusals(last.Auth)) == 0 {
		b.global.GlobalAuth = &GlobalAuth{Auth: last.Auth, Exempt: last.Exempt}
		b.ignored(ref, ReasonInvalidOption, "global auth refused: %s; keeping the last accepted global auth (global-auth-url %q)",
			msg, excerpt.Of(last.Auth.URL))
		return
	}
	b.global.GlobalAuth = &GlobalAuth{Refused: msg, Exempt: exempt} // exempt is nil if it is what was refused
	b.notServed(ref, ReasonInvalidOption, "global auth refused: %s; no global auth was accepted before, so the paths of every "+
		"Ingress that would use it answer 503 until it is fixed", msg)
}

// globalAuthRefusals says why settings the Fields accepted still cannot be
// used: an auth service in the controller's own Pod, or a sign-in URL
// naming $escaped_request_uri without the Lua module that defines it.
func (b *builder) globalAuthRefusals(auth annotations.ExternalAuth) []string {
	var why []string
	if r := b.authURLRefusal(auth.URL); r != "" {
		why = append(why, "global-auth-url is refused ("+r+"): no auth service may be the controller's own Pod")
	}
	if strings.Contains(auth.SignIn, escapedRequestURI) && !b.lua() {
		why = append(why, "global-auth-signin names $escaped_request_uri, which needs the Lua balancer (balancer: lua)")
	}
	return why
}

// useGlobalAuth gives an Ingress without its own auth-url the global auth,
// unless it opts out with enable-global-auth "false" (as in
// ingress-nginx; any namespace may, so the global auth is no tenant
// boundary: docs/security.md).
func (b *builder) useGlobalAuth(ing *networkingv1.Ingress, set annotations.Set, policy *locationPolicy) {
	ga := b.global.GlobalAuth
	if ga == nil || set.GlobalAuthOff || allPathsExempt(ing, ga.Exempt) {
		return
	}
	if ga.Refused != "" {
		b.notServed(ingressRef(ing), ReasonGlobalAuthUnavailable, "the options ConfigMap's global auth is refused and none was accepted "+
			"before (see the ConfigMap's finding): the Ingress's paths answer 503 until it is fixed")
		policy.denied = true
		return
	}
	// Built for a stand-in Ingress, not this one: whatever externalAuth
	// derives from an Ingress's identity (names from hashID) is then the
	// same for every Ingress, as the one shared endpoint needs.
	owner := globalAuthOwner()
	auth, ep := externalAuth(owner, ga.Auth)
	auth.Endpoint, ep.Path = globalAuthPath, globalAuthPath
	authAnswerSettings(owner, ga.Auth, auth, ep)
	policy.extAuth, policy.authEndpoint, policy.authExempt = auth, ep, ga.Exempt
}

// authAnswerSettings applies the keys every external auth has beyond url,
// method, signin and response-headers (cookie, redirect header, cache),
// for an Ingress's own auth and for the global one. owner keys the cache:
// for the global auth the stand-in owner, so every server's global
// endpoint shares the cache of the one auth service, per host (as in
// ingress-nginx); what the answer depends on must be in
// global-auth-cache-key. ingress-nginx has no global keepalive or
// proxy-set-headers keys.
func authAnswerSettings(owner *networkingv1.Ingress, ea annotations.ExternalAuth, auth *ExternalAuth, ep *AuthEndpoint) {
	auth.AlwaysSetCookie = ea.AlwaysSetCookie
	ep.RequestRedirect = ea.RequestRedirect
	if ea.CacheKey != "" {
		ep.Cache = &AuthCache{Key: authCacheKey(owner, ea.CacheKey), Valid: authCacheValid(ea.CacheDuration)}
	}
}

// allPathsExempt reports whether every path of an Ingress is under
// no-auth-locations (cert-manager's solver Ingress): it needs no global
// auth, even a refused one. An Ingress with spec.defaultBackend has a "/".
func allPathsExempt(ing *networkingv1.Ingress, exempt []string) bool {
	if len(exempt) == 0 || ing.Spec.DefaultBackend != nil {
		return false
	}
	n := 0
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			if !exemptPath(exempt, p.Path) {
				return false
			}
			n++
		}
	}
	return n > 0
}
