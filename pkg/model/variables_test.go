package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// TestVariablesInAuthAndRedirects: the model keeps a sign-in URL's own rd=,
// keeps the auth-url's variables in its path, and marks the locations whose
// sign-in or redirect URL names $escaped_request_uri so the template
// defines it.
func TestVariablesInAuthAndRedirects(t *testing.T) {
	snap, err := fixture.LoadFile("testdata/extauth-variables.yaml")
	require.NoError(t, err)
	cfg, _ := model.Build(snap, testOptions())
	cases := []struct {
		host, path string
		signIn     string
		returnURL  string
		escaped    bool
	}{
		{host: "app.example.com", path: "/", signIn: "https://${host}/oauth2/start?rd=${escaped_request_uri}", escaped: true},
		{host: "old.example.com", path: "/", returnURL: "https://new.example.com${request_uri}"},
		{host: "login.example.com", path: "/old/", returnURL: "${scheme}://${host}/login?next=${escaped_request_uri}", escaped: true},
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			l, ok := prefixLocation(t, cfg, c.host, c.path)
			require.True(t, ok)
			if c.signIn != "" {
				require.NotNil(t, l.ExternalAuth)
				assert.Equal(t, c.signIn, l.ExternalAuth.SignIn, "the value's own rd= stays the only one")
			}
			assert.Equal(t, c.returnURL, l.Action.ReturnURL)
			assert.Equal(t, c.escaped, l.EscapedRequestURI)
		})
	}
	srv := findServer(cfg, "app.example.com")
	require.Len(t, srv.AuthEndpoints, 1)
	assert.Equal(t, "http://oauth2-proxy.auth.svc.cluster.local:4180/oauth2/auth?uri=${request_uri}", srv.AuthEndpoints[0].URL)
}

// TestEscapedRequestURINeedsLua: without the Lua module nginx cannot
// define $escaped_request_uri, so an Ingress naming it is refused (503,
// finding) rather than served without its sign-in, and nginx -t for every
// other Ingress is not broken by an unknown variable.
func TestEscapedRequestURINeedsLua(t *testing.T) {
	snap, err := fixture.LoadFile("testdata/extauth-variables.yaml")
	require.NoError(t, err)
	opts := testOptions()
	opts.Global.Balancer = model.BalancerUpstreams
	cfg, findings := model.Build(snap, opts)
	l, ok := prefixLocation(t, cfg, "app.example.com", "/")
	require.True(t, ok)
	assert.Nil(t, l.ExternalAuth)
	assert.False(t, l.EscapedRequestURI)
	assert.Equal(t, 503, l.Action.Return)
	var refused int
	for _, f := range findings {
		if f.Object.Name == "oauth2" && f.Reason == model.ReasonInvalidAnnotation {
			assert.Contains(t, f.Message, "$escaped_request_uri needs the Lua balancer")
			refused++
		}
	}
	assert.Equal(t, 1, refused)
	moved, ok := prefixLocation(t, cfg, "old.example.com", "/")
	require.True(t, ok)
	assert.Equal(t, 301, moved.Action.Return, "an Ingress without the variable is unaffected")
}
