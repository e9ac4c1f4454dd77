package ngxvar_test

import (
	"strings"
	"testing"

	"github.com/portico-ingress/portico/pkg/ngxvar"
)

// FuzzParseURL: whatever is accepted renders to a value that parses back to
// itself, names only allowlisted variables, has literals without a
// character nginx splits on or expands, and (for a URL nginx connects to)
// no variable before its path other than $request_uri or $uri.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"https://$host/oauth2/start?rd=$escaped_request_uri",
		"http://auth.example.com:4180/x?u=$request_uri&c=${cookie_s}",
		"http://$http_x_target/verify", "https://new.example.com$request_uri",
		"$scheme://$host:8443/", "https://$host/\r\nX: 1", "https://a/${http_x-y}", "https://a/$",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, connect bool) {
		rule := ngxvar.Redirect
		if connect {
			rule = ngxvar.Connect
		}
		v, err := ngxvar.ParseURL(s, rule)
		if err != nil {
			return
		}
		out := v.String()
		for _, p := range v {
			if p.Var != "" && !ngxvar.Allowed(p.Var) {
				t.Fatalf("%q: variable %q off the allowlist", s, p.Var)
			}
			if p.Var == "" && strings.ContainsAny(p.Literal, "${}\"\\; \r\n\t") {
				t.Fatalf("%q: literal %q holds a special character", s, p.Literal)
			}
		}
		again, err := ngxvar.ParseURL(out, rule)
		if err != nil || again.String() != out {
			t.Fatalf("%q rendered %q, which does not parse back: %v", s, out, err)
		}
		if connect {
			// Up to the path: the authority, which nginx connects to.
			rest := strings.SplitN(out, "://", 2)[1]
			end := len(rest)
			if i := strings.IndexAny(rest, "/?#"); i >= 0 {
				end = i
			}
			if i := strings.Index(rest, "${"); i >= 0 && i < end &&
				!strings.HasPrefix(rest[i:], "${request_uri}") && !strings.HasPrefix(rest[i:], "${uri}") {
				t.Fatalf("%q: a variable before the path of a URL nginx connects to: %q", s, out)
			}
		}
	})
}
