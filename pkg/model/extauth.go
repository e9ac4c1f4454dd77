package model

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
)

// externalAuth builds the auth_request settings. The internal location's
// path and the header variables come from a hash and an index; the
// sign-in URL gets rd= with the original URL, which nginx expands.
func externalAuth(ing *networkingv1.Ingress, ea annotations.ExternalAuth) (*ExternalAuth, *AuthEndpoint) {
	ep := &AuthEndpoint{Path: "/_portico_auth_" + hashID(ing), URL: ea.URL}
	if ea.Method != "" && ea.Method != "GET" {
		ep.Method = ea.Method
	}
	auth := &ExternalAuth{Endpoint: ep.Path}
	if ea.SignIn != "" && hasRD(ea.SignIn) {
		// oauth2-proxy style: the value names where to return itself
		// (rd=$escaped_request_uri), as ingress-nginx leaves it.
		auth.SignIn = ea.SignIn
	} else if ea.SignIn != "" {
		sep := "?"
		if strings.Contains(ea.SignIn, "?") {
			sep = "&"
		}
		auth.SignIn = ea.SignIn + sep + "rd=$scheme://$http_host$request_uri"
	}
	for i, h := range ea.ResponseHeaders {
		auth.Headers = append(auth.Headers, AuthHeader{
			Name:     h,
			Variable: fmt.Sprintf("$portico_auth_header_%d", i),
			Upstream: "$upstream_http_" + strings.ReplaceAll(strings.ToLower(h), "-", "_"),
		})
	}
	return auth, ep
}

// authURLRefusal says why an auth-url may not be asked, or "": like a
// backend, it must not be the controller's own Pod (nginx would send the
// subrequest, and copy its answer's headers, from inside it). An IP
// address is checked with its port; localhost names are loopback. Other
// names nginx resolves per request (docs/security.md, known limits).
func (b *builder) authURLRefusal(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "" // the annotation's own check refused it already
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "it is loopback, and no auth service may be the controller's own Pod"
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return ""
	}
	port := uint16(80)
	if u.Scheme == "https" {
		port = 443
	}
	if p, err := strconv.ParseUint(u.Port(), 10, 16); err == nil {
		port = uint16(p)
	}
	return addressPolicy(b.opts, b.global).Refusal(addr, port)
}

// hasRD reports whether a sign-in URL's query already has an rd parameter.
func hasRD(signIn string) bool {
	_, query, ok := strings.Cut(signIn, "?")
	if !ok {
		return false
	}
	for _, kv := range strings.Split(query, "&") {
		if k, _, _ := strings.Cut(kv, "="); k == "rd" {
			return true
		}
	}
	return false
}

// escapedRequestURI is the canonical spelling (ngxvar) of the one
// allowlisted variable nginx lacks; locations that name it define it.
const escapedRequestURI = "${escaped_request_uri}"
