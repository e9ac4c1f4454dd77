package annotations

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestParseRewriteTarget covers the shapes of rewrite-target: a path with
// captures, and an absolute URL (a redirect) whose scheme, host and port
// are fixed text, never a capture or a variable.
func TestParseRewriteTarget(t *testing.T) {
	cases := []struct {
		value    string
		ok       bool
		redirect bool
	}{
		{value: "/", ok: true},
		{value: "/$2", ok: true},
		{value: "/new/$1?x=$2", ok: true},
		{value: "https://other.example.com/$1", ok: true, redirect: true},
		{value: "http://other.example.com", ok: true, redirect: true},
		{value: "https://other.example.com:8443/moved/$1?from=old", ok: true, redirect: true},
		{value: "https://10.1.2.3/x", ok: true, redirect: true},
		{value: "https://other.example.com/../$1", ok: true, redirect: true}, // the client resolves it, nginx serves no file
		{value: "https://$1.example.com/x"},                                  // a capture may not choose the host
		{value: "https://other.example.com$1"},                               // nor extend it
		{value: "https://other.example.com:$1/x"},                            // nor the port
		{value: "https://other.example.com:0/x"},
		{value: "https://other.example.com:65536/x"},
		{value: "https://Other.example.com/x"},
		{value: "https://user@other.example.com/x"},
		{value: "https://other.example.com/$host"},
		{value: "https://other.example.com/a b"},
		{value: "https://other.example.com/\"; return 200 x;"},
		{value: "https://-bad.example.com/x"},
		{value: "ftp://other.example.com/x"},
		{value: "//other.example.com/x", ok: true}, // a path the backend receives, not a redirect
		{value: "$scheme://other.example.com/x"},
		{value: "/$host"},
		{value: "/../etc"},
		{value: "relative"},
	}
	p := NewParser("")
	for _, c := range cases {
		t.Run(c.value, func(t *testing.T) {
			set, problems := p.Parse(map[string]string{DefaultPrefix + "/rewrite-target": c.value})
			if !c.ok {
				assert.Len(t, problems, 1, "refused")
				assert.Empty(t, set.Rewrite.Target)
				return
			}
			assert.Empty(t, problems)
			assert.Equal(t, c.value, set.Rewrite.Target)
			assert.Equal(t, c.redirect, set.Rewrite.IsRedirect())
		})
	}
}
