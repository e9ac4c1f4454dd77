package ngxvar_test

import (
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/portico-ingress/portico/pkg/ngxvar"
)

type urlCase struct {
	Name string `json:"name"`
	Rule string `json:"rule"`
	In   string `json:"in"`
	Out  string `json:"out"`
	Err  string `json:"err"`
}

// TestParseURL runs testdata/urls.yaml: the accepted forms render in brace
// form, and every attack (a client-chosen host, port or scheme; a variable
// off the allowlist; CR/LF; quotes) is refused with a reason naming it.
func TestParseURL(t *testing.T) {
	raw, err := os.ReadFile("testdata/urls.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cases []urlCase
	if err := yaml.UnmarshalStrict(raw, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			rule := ngxvar.Connect
			if c.Rule == "redirect" {
				rule = ngxvar.Redirect
			}
			v, err := ngxvar.ParseURL(c.In, rule)
			if c.Err != "" {
				if err == nil || !strings.Contains(err.Error(), c.Err) {
					t.Fatalf("ParseURL(%q) error = %v, want one containing %q", c.In, err, c.Err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL(%q): %v", c.In, err)
			}
			if got := v.String(); got != c.Out {
				t.Fatalf("ParseURL(%q) = %q, want %q", c.In, got, c.Out)
			}
			// The rendering parses back to itself.
			again, err := ngxvar.ParseURL(v.String(), rule)
			if err != nil || again.String() != c.Out {
				t.Fatalf("rendering %q does not parse back: %v", c.Out, err)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	for name, want := range map[string]bool{
		"host": true, "http_host": true, "scheme": true, "request_uri": true, "escaped_request_uri": true,
		"uri": false, "args": true, "remote_addr": true, "server_port": true, "msec": true,
		"arg_q": true, "http_x_forwarded_user": true, "cookie__oauth2_proxy": true,
		"http_": false, "arg_": false, "document_root": false, "request_body": false,
		"portico_auth_target": false, "1": false, "upstream_http_x": false, "realpath_root": false,
	} {
		if got := ngxvar.Allowed(name); got != want {
			t.Errorf("Allowed(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestClientControlled(t *testing.T) {
	for name, want := range map[string]bool{
		"host": true, "http_host": true, "request_uri": true, "escaped_request_uri": true, "uri": true,
		"args": true, "arg_a": true, "http_a": true, "cookie_a": true,
		"scheme": false, "remote_addr": false, "server_port": false, "msec": false,
	} {
		if got := ngxvar.ClientControlled(name); got != want {
			t.Errorf("ClientControlled(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestDecoded: only $uri, which nginx percent-decodes, may hold a line
// break; the raw forms may not.
func TestDecoded(t *testing.T) {
	for name, want := range map[string]bool{
		"uri": true, "request_uri": false, "escaped_request_uri": false, "args": false, "arg_a": false,
		"http_a": false, "cookie_a": false, "host": false, "msec": false,
	} {
		if got := ngxvar.Decoded(name); got != want {
			t.Errorf("Decoded(%q) = %v, want %v", name, got, want)
		}
	}
}
