package annotations

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGlobalAuthKeysMapToAuthFields: every ingress-nginx global-auth-X key
// maps to auth-X, and is implemented exactly when the auth-X Field exists.
func TestGlobalAuthKeysMapToAuthFields(t *testing.T) {
	fields := map[string]bool{}
	for _, f := range Fields() {
		fields[f.Key] = true
	}
	keys := GlobalAuthKeys()
	require.Len(t, keys, len(globalAuthSuffixes()))
	for _, k := range keys {
		suffix, ok := strings.CutPrefix(k.Key, GlobalAuthPrefix)
		require.True(t, ok, k.Key)
		assert.Equal(t, "auth-"+suffix, k.Annotation)
		assert.Equal(t, fields[k.Annotation], k.Implemented, k.Key)
		if k.Implemented {
			assert.NotEmpty(t, k.Doc, k.Key)
			assert.NotEmpty(t, k.Allowed, k.Key)
		}
	}
	assert.True(t, fields["auth-url"] && keys[len(keys)-1].Key == "global-auth-url" && keys[len(keys)-1].Implemented)
}

// TestGlobalAuthSameFieldAsAnnotation: a global-auth-X value is accepted
// or refused, and parsed, exactly as the auth-X annotation with the same
// value, CVE-2025-24514's payload included.
func TestGlobalAuthSameFieldAsAnnotation(t *testing.T) {
	values := map[string][]string{
		"url": {"http://auth.example.com/check", "https://$host/x", "http://a.example.com/v?u=$request_uri",
			"http://$http_x_target/verify", "http://example.com/#;\nload_module /tmp/x.so;", "ftp://x", "http://a/b?r=$escaped_request_uri"},
		"method":           {"post", "GET", "TRACE", "GET;"},
		"signin":           {"https://login.example.com/start", "https://$host/oauth2/start?rd=$escaped_request_uri", "javascript:alert(1)", "https://x/\"; return 200"},
		"response-headers": {"X-User, X-Email", "X-A\r\nX-B", " , ", "X-A,X-B,X-C,X-D,X-E,X-F,X-G,X-H,X-I,X-J,X-K,X-L,X-M,X-N,X-O,X-P,X-Q"},
	}
	p := NewParser("")
	for suffix, vs := range values {
		for _, v := range vs {
			set, probs := p.Parse(map[string]string{DefaultPrefix + "/auth-" + suffix: v})
			got, errs := ParseGlobalAuth(map[string]string{GlobalAuthPrefix + suffix: v, "proxy-read-timeout": "nope"})
			assert.Equal(t, len(probs), len(errs), "auth-%s=%q: %v / %v", suffix, v, probs, errs)
			assert.Equal(t, set.ExternalAuth, got, "auth-%s=%q", suffix, v)
			for _, e := range errs {
				assert.Equal(t, GlobalAuthPrefix+suffix, e.Key)
			}
		}
	}
}

// TestParseGlobalAuth: other keys are skipped, empty values are unset,
// and misspelt or unimplemented global-auth keys are errors (never
// silently dropped), in key order.
func TestParseGlobalAuth(t *testing.T) {
	auth, errs := ParseGlobalAuth(map[string]string{
		"global-auth-url":     "http://auth.example.com/check",
		"global-auth-method":  " ",
		"global-auth-urll":    "http://typo.example.com/",
		"global-auth-snippet": "proxy_set_header X-A b;",
		"hsts":                "true",
	})
	assert.Equal(t, ExternalAuth{URL: "http://auth.example.com/check"}, auth)
	require.Len(t, errs, 2)
	assert.Equal(t, "global-auth-snippet", errs[0].Key)
	assert.Contains(t, errs[0].Error(), "not implemented yet")
	assert.Equal(t, "global-auth-urll", errs[1].Key)
	assert.Contains(t, errs[1].Error(), "is not one of ingress-nginx's global-auth keys")

	auth, errs = ParseGlobalAuth(map[string]string{"global-auth-url": ""})
	assert.Empty(t, errs)
	assert.Equal(t, ExternalAuth{}, auth)
}

// TestGlobalAuthIsNoAnnotation: no Ingress can set or change the global
// auth. A global-auth-* annotation refuses the Ingress, and
// enable-global-auth parses into this Ingress's Set alone.
func TestGlobalAuthIsNoAnnotation(t *testing.T) {
	p := NewParser("")
	for _, k := range GlobalAuthKeys() {
		_, probs := p.Parse(map[string]string{DefaultPrefix + "/" + k.Key: "http://198.18.0.66/allow-all"})
		require.Len(t, probs, 1, k.Key)
		assert.Equal(t, UnsupportedSecurity, probs[0].Kind, k.Key)
	}
	for v, off := range map[string]bool{"false": true, "true": false, "0": true, "TRUE": false} {
		set, probs := p.Parse(map[string]string{DefaultPrefix + "/enable-global-auth": v})
		assert.Empty(t, probs, v)
		assert.Equal(t, off, set.GlobalAuthOff, v)
	}
	_, probs := p.Parse(map[string]string{DefaultPrefix + "/enable-global-auth": "no"})
	require.Len(t, probs, 1)
	assert.Equal(t, Invalid, probs[0].Kind, "an unreadable opt-out refuses the Ingress, never switches the auth off")
}

// TestGlobalAuthFieldElsewhere: an auth-X Field of any group maps, and one
// that stores its value outside ExternalAuth (which the global auth would
// drop) is refused, never silently lost.
func TestGlobalAuthFieldElsewhere(t *testing.T) {
	fields := fieldsByKey(Fields())
	fields["auth-cache-key"] = Field{Key: "auth-cache-key", Group: "other", Allowed: "any", Doc: "test",
		apply: func(v string, s *Set) error { s.ExternalAuth.Method = "PUT"; return nil }}
	fields["auth-request-redirect"] = Field{Key: "auth-request-redirect", Group: "other", Allowed: "any", Doc: "test",
		apply: func(v string, s *Set) error { s.Headers.UpstreamVhost = v; return nil }}
	auth, errs := parseGlobalAuth(map[string]string{"global-auth-cache-key": "k", "global-auth-url": "http://a.example.com/"}, fields)
	assert.Empty(t, errs)
	assert.Equal(t, ExternalAuth{URL: "http://a.example.com/", Method: "PUT"}, auth)
	_, errs = parseGlobalAuth(map[string]string{"global-auth-request-redirect": "x", "global-auth-url": "http://a.example.com/"}, fields)
	require.Len(t, errs, 1)
	assert.Equal(t, "global-auth-request-redirect", errs[0].Key)
	assert.Contains(t, errs[0].Error(), "sets more than the external auth settings")
}
