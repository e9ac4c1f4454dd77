package model

import (
	"fmt"
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
	if ea.SignIn != "" {
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
