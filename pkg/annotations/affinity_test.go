package annotations

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBalanceMethods(t *testing.T) {
	p := NewParser("")
	for _, v := range []string{"round_robin", "least_conn", "ewma"} {
		set, problems := p.Parse(map[string]string{DefaultPrefix + "/load-balance": v})
		assert.Empty(t, problems, v)
		assert.Equal(t, v, set.Balance.Method)
	}
	for _, v := range []string{"", "EWMA", "random", "ewma;", "ewma\nleast_conn", "round_robin least_conn"} {
		set, problems := p.Parse(map[string]string{DefaultPrefix + "/load-balance": v})
		assert.Equal(t, []string{"InvalidAnnotation " + DefaultPrefix + "/load-balance"}, problemKeys(t, problems), "%q", v)
		assert.Empty(t, set.Balance.Method, "%q", v)
	}
}

func TestParseAffinity(t *testing.T) {
	a := func(key string) string { return DefaultPrefix + "/" + key }
	cases := []groupCase[Affinity]{
		{name: "none", in: map[string]string{"other.io/affinity": "cookie"}},
		{name: "cookie only gets ingress-nginx's defaults", in: map[string]string{a("affinity"): "cookie"},
			want: Affinity{Type: "cookie", Mode: "balanced", CookieName: "INGRESSCOOKIE"}},
		{name: "every key", in: map[string]string{
			a("affinity"):                         "cookie",
			a("affinity-mode"):                    "persistent",
			a("session-cookie-name"):              "route",
			a("session-cookie-path"):              "/app/v1",
			a("session-cookie-domain"):            ".Example.COM",
			a("session-cookie-max-age"):           "172800",
			a("session-cookie-expires"):           " 3600 ",
			a("session-cookie-secure"):            "true",
			a("session-cookie-samesite"):          "lax",
			a("session-cookie-change-on-failure"): "True",
		}, want: Affinity{Type: "cookie", Mode: "persistent", CookieName: "route", CookiePath: "/app/v1",
			CookieDomain: ".example.com", CookieMaxAge: 172800, CookieExpires: 3600, CookieSecure: true,
			CookieSameSite: "Lax", CookieChangeOnFailure: true}},
		{name: "cookie keys without affinity are kept for the model", in: map[string]string{
			a("session-cookie-name"): "sticky_v2", a("session-cookie-secure"): "false",
		}, want: Affinity{CookieName: "sticky_v2"}},
		{name: "boundaries", in: map[string]string{
			a("affinity"):               "cookie",
			a("session-cookie-name"):    strings.Repeat("n", 64),
			a("session-cookie-path"):    "/",
			a("session-cookie-domain"):  "localhost",
			a("session-cookie-max-age"): strconv.Itoa(MaxCookieSeconds),
			a("session-cookie-expires"): "1",
		}, want: Affinity{Type: "cookie", Mode: "balanced", CookieName: strings.Repeat("n", 64), CookiePath: "/",
			CookieDomain: "localhost", CookieMaxAge: MaxCookieSeconds, CookieExpires: 1}},
		{name: "header injection attempts are invalid", in: map[string]string{
			a("affinity"):                "cookie",
			a("session-cookie-name"):     "route; Domain=evil.com",
			a("session-cookie-path"):     "/\r\nSet-Cookie: admin=1",
			a("session-cookie-domain"):   "example.com; Secure",
			a("session-cookie-samesite"): "None; Domain=evil.com",
			a("session-cookie-max-age"):  "3600; HttpOnly",
		}, want: Affinity{Type: "cookie", Mode: "balanced", CookieName: "INGRESSCOOKIE"}, problems: []string{
			"InvalidAnnotation " + a("session-cookie-domain"),
			"InvalidAnnotation " + a("session-cookie-max-age"),
			"InvalidAnnotation " + a("session-cookie-name"),
			"InvalidAnnotation " + a("session-cookie-path"),
			"InvalidAnnotation " + a("session-cookie-samesite"),
		}},
	}
	runGroupCases(t, cases, func(s Set) Affinity { return s.Affinity })
}

func TestAffinityValues(t *testing.T) {
	tests := []valueCase[Affinity]{
		{key: "affinity",
			valid: map[string]Affinity{"cookie": {Type: "cookie", Mode: "balanced", CookieName: "INGRESSCOOKIE"}},
			bad:   []string{"", "Cookie", "COOKIE", "header", "none", "cookie;", "cookie\nheader"}},
		{key: "affinity-mode",
			valid: map[string]Affinity{"balanced": {Mode: "balanced"}, "persistent": {Mode: "persistent"}},
			bad:   []string{"", "Balanced", "sticky", "persistent;", "balanced persistent"}},
		{key: "session-cookie-name",
			valid: map[string]Affinity{
				"INGRESSCOOKIE": {CookieName: "INGRESSCOOKIE"}, "route": {CookieName: "route"},
				"my-cookie_1.v2": {CookieName: "my-cookie_1.v2"}, "a!#%&*+^~": {CookieName: "a!#%&*+^~"},
			},
			bad: []string{"", "a b", "a;b", "a,b", "a=b", `a"b`, "a'b", "a`b", "a|b", `a\b`, "$route", "ro$ute", "a\r\nb", "a\tb",
				"(a)", "a/b", "a:b", "a@b", "a?b", "a[b]", "a{b}", "a<b>", "caf\u00e9", strings.Repeat("n", 65)}},
		{key: "session-cookie-path",
			valid: map[string]Affinity{
				"/": {CookiePath: "/"}, "/app": {CookiePath: "/app"}, "/a/b-c_d.e~f/%20": {CookiePath: "/a/b-c_d.e~f/%20"},
				"/a!&'()*+=:@": {CookiePath: "/a!&'()*+=:@"}, "/" + strings.Repeat("p", 255): {CookiePath: "/" + strings.Repeat("p", 255)},
			},
			bad: []string{"", "app", "/a;b", "/a,b", "/a b", "/a\tb", "/a\r\nb", "/a\x00", "/a\x7f", `/a"b`, `/a\b`, "/$uri",
				"/a?b", "/a#b", "/a{b}", "/caf\u00e9", "/" + strings.Repeat("p", 256)}},
		{key: "session-cookie-domain",
			valid: map[string]Affinity{
				"example.com": {CookieDomain: "example.com"}, ".example.com": {CookieDomain: ".example.com"},
				"Shop.Example.COM": {CookieDomain: "shop.example.com"}, "a-b.c": {CookieDomain: "a-b.c"},
			},
			bad: []string{"", ".", "..example.com", "example..com", "example.com.", "-example.com", "*.example.com",
				"example.com;", "example.com; Secure", "exa mple.com", "example.com\r\nSet-Cookie: a=b", `"example.com"`, "$host",
				"example.com:8080", "http://example.com", "caf\u00e9.com", strings.Repeat("a", 254)}},
		{key: "session-cookie-max-age",
			valid: map[string]Affinity{"1": {CookieMaxAge: 1}, "172800": {CookieMaxAge: 172800},
				"315360000": {CookieMaxAge: MaxCookieSeconds}},
			bad: []string{"", "0", "-1", "+5", "1.5", "1e3", "60s", "315360001", "99999999999", "3600;", "3600\n1", "$x"}},
		{key: "session-cookie-expires",
			valid: map[string]Affinity{"1": {CookieExpires: 1}, "86400": {CookieExpires: 86400}},
			bad:   []string{"", "0", "-86400", "1d", "315360001", "86400; Path=/", `"86400"`}},
		{key: "session-cookie-secure",
			valid: map[string]Affinity{"true": {CookieSecure: true}, "1": {CookieSecure: true}, "false": {}, "FALSE": {}},
			bad:   []string{"", "yes", "on", "true;", "true\nfalse"}},
		{key: "session-cookie-samesite",
			valid: map[string]Affinity{
				"None": {CookieSameSite: "None"}, "none": {CookieSameSite: "None"}, "LAX": {CookieSameSite: "Lax"},
				"Lax": {CookieSameSite: "Lax"}, "strict": {CookieSameSite: "Strict"}, "Strict": {CookieSameSite: "Strict"},
			},
			bad: []string{"", "Relaxed", "Lax;", "Lax; Secure", "Lax\r\nSet-Cookie: a=b", `"Lax"`, "None Secure"}},
		{key: "session-cookie-change-on-failure",
			valid: map[string]Affinity{"true": {CookieChangeOnFailure: true}, "false": {}, "t": {CookieChangeOnFailure: true}},
			bad:   []string{"", "always", "true; x"}},
	}
	runValueCases(t, tests, func(s Set) Affinity { return s.Affinity })
}

// TestAffinityIsAlwaysOneSetCookieAttribute: whatever the input, a value
// that passes cannot end or split a Set-Cookie attribute, or reach nginx's
// variable expansion.
func TestAffinityIsAlwaysOneSetCookieAttribute(t *testing.T) {
	inputs := []string{"a", "/a", "a.b", "x;y", "x,y", "x y", "x\r\ny", "x\"y", "x$y", "x\\y", "\x00", strings.Repeat("x", 300)}
	for b := 0; b < 128; b++ {
		inputs = append(inputs, "a"+string(rune(b))+"b", "/a"+string(rune(b))+"b")
	}
	p := NewParser("")
	for _, f := range affinityFields() {
		for _, v := range inputs {
			set, problems := p.Parse(map[string]string{DefaultPrefix + "/" + f.Key: v})
			if len(problems) > 0 {
				continue
			}
			a := set.Affinity
			for _, s := range []string{a.Type, a.Mode, a.CookieName, a.CookiePath, a.CookieDomain, a.CookieSameSite} {
				require.False(t, strings.ContainsAny(s, ";, \t\r\n\"\\$\x00\x7f"), "%s: %q passed as %q", f.Key, v, s)
				require.LessOrEqual(t, len(s), 256, "%s: %q", f.Key, v)
			}
		}
	}
}
