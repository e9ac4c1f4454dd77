package annotations

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// GlobalAuthPrefix starts the ConfigMap keys of global external auth
// (ingress-nginx's global-auth-*). They are never annotations: one named
// so is refused (securityRules), so no Ingress can change them.
const GlobalAuthPrefix = "global-auth-"

// GlobalAuthKey is one global-auth-X ConfigMap key and the auth-X
// annotation whose Field parses its value.
type GlobalAuthKey struct {
	// Key is the ConfigMap key ("global-auth-url").
	Key string
	// Annotation is the annotation whose Field checks the value ("auth-url").
	Annotation string
	// Implemented says the annotation's Field exists; a key without one
	// cannot be honoured yet.
	Implemented bool
	// Allowed and Doc are the Field's, for the ConfigMap docs ("" when not implemented).
	Allowed, Doc string
}

// globalAuthSuffixes are ingress-nginx's global-auth-* keys without the
// prefix (internal/ingress/controller/template/configmap.go).
func globalAuthSuffixes() []string {
	return []string{"url", "method", "signin", "signin-redirect-param", "response-headers",
		"request-redirect", "snippet", "cache-key", "cache-duration", "always-set-cookie"}
}

// GlobalAuthKeys lists ingress-nginx's global-auth-* ConfigMap keys, sorted,
// each mapped to the auth-* annotation of the same suffix. The mapping is the
// whole design: a global value is checked by exactly the allowlist and apply
// function of the annotation, so an auth-X Field added later makes
// global-auth-X work with nothing else to change.
func GlobalAuthKeys() []GlobalAuthKey {
	return globalAuthKeys(fieldsByKey(Fields()))
}

// fieldsByKey indexes fields by annotation name.
func fieldsByKey(fields []Field) map[string]Field {
	out := make(map[string]Field, len(fields))
	for _, f := range fields {
		out[f.Key] = f
	}
	return out
}

// globalAuthKeys is GlobalAuthKeys over the given Fields (any group: the
// auth-X Field may live in any file).
func globalAuthKeys(fields map[string]Field) []GlobalAuthKey {
	var out []GlobalAuthKey
	for _, s := range globalAuthSuffixes() {
		k := GlobalAuthKey{Key: GlobalAuthPrefix + s, Annotation: "auth-" + s}
		if f, ok := fields[k.Annotation]; ok {
			k.Implemented, k.Allowed, k.Doc = true, f.Allowed, f.Doc
		}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b GlobalAuthKey) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// KeyError is a refused value of one ConfigMap key.
type KeyError struct {
	// Key is the ConfigMap key.
	Key string
	// Err says why, with the value truncated.
	Err error
}

// Error implements error.
func (e KeyError) Error() string { return e.Key + ": " + e.Err.Error() }

// ParseGlobalAuth reads the global-auth-* entries of an options ConfigMap
// (other keys are skipped) with the auth-* Fields. It returns the settings
// and, in key order, every key it refused: a bad value, a key whose auth-X
// Field does not exist yet, or a global-auth-* key ingress-nginx does not
// have (a misspelt one). The caller must treat any error as "the global
// auth cannot be honoured as written" and fail closed.
func ParseGlobalAuth(data map[string]string) (ExternalAuth, []KeyError) {
	return parseGlobalAuth(data, fieldsByKey(Fields()))
}

// parseGlobalAuth is ParseGlobalAuth over the given Fields.
func parseGlobalAuth(data map[string]string, fields map[string]Field) (ExternalAuth, []KeyError) {
	byKey := map[string]GlobalAuthKey{}
	for _, k := range globalAuthKeys(fields) {
		byKey[k.Key] = k
	}
	var keys []string
	for k := range data {
		if strings.HasPrefix(k, GlobalAuthPrefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	set := new(Set)
	var errs []KeyError
	for _, k := range keys {
		gk, known := byKey[k]
		switch {
		case strings.TrimSpace(data[k]) == "":
			continue // as in ingress-nginx: an empty value is no value
		case !known:
			errs = append(errs, KeyError{Key: k, Err: errors.New("is not one of ingress-nginx's global-auth keys (a misspelt key would drop the authentication)")})
			continue
		case !gk.Implemented:
			errs = append(errs, KeyError{Key: k, Err: fmt.Errorf("is not implemented yet (as the annotation %s is not), so the global auth cannot be honoured as written", gk.Annotation)})
			continue
		}
		f := fields[gk.Annotation]
		value := strings.TrimSpace(data[k])
		if err := f.apply(value, set); err != nil {
			errs = append(errs, KeyError{Key: k, Err: fmt.Errorf("value %s %w (allowed: %s)", strconv.Quote(excerpt.Of(value)), err, f.Allowed)})
			continue
		}
		// Only ExternalAuth is carried to the global auth: a Field that
		// stores its value elsewhere in the Set would be dropped silently.
		rest := *set
		rest.ExternalAuth = ExternalAuth{}
		if !reflect.ValueOf(rest).IsZero() {
			errs = append(errs, KeyError{Key: k, Err: fmt.Errorf("is not implemented yet for global auth (the annotation %s "+
				"sets more than the external auth settings), so the global auth cannot be honoured as written", gk.Annotation)})
			*set = Set{ExternalAuth: set.ExternalAuth}
		}
	}
	return set.ExternalAuth, errs
}

// globalAuthFields is the per-Ingress switch of the global auth.
func globalAuthFields() []Field {
	return inGroup("external-auth", []Field{
		{Key: "enable-global-auth", Default: "true", Allowed: "true, false", Risk: RiskMedium,
			Doc: "false: the Ingress's paths skip the ConfigMap's global-auth-url (an Ingress with its own auth-url never uses it); " +
				"any namespace can opt its own Ingresses out, so do not rely on global auth alone to protect a tenant's backends",
			apply: func(v string, s *Set) error {
				on, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("must be true or false")
				}
				s.GlobalAuthOff = !on
				return nil
			}},
	})
}
