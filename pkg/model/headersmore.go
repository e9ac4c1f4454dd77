package model

import (
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// ReasonHeadersMoreUnavailable: an Ingress's snippet uses the headers-more
// directives but nginx has no headers-more module; its paths answer 503
// rather than go without the headers (which may be security headers).
const ReasonHeadersMoreUnavailable = "HeadersMoreUnavailable"

// DebianHeadersMoreModule is Debian's path of the headers-more module
// (libnginx-mod-http-headers-more-filter, which nginx-extras depends on).
const DebianHeadersMoreModule = "/usr/share/nginx/modules/ngx_http_headers_more_filter_module.so"

// usesHeadersMore reports whether the directive trees hold a headers-more
// directive (more_set_headers and its three siblings) at any depth.
func usesHeadersMore(trees ...[]*ngxconf.Directive) bool {
	found := false
	for _, dirs := range trees {
		ngxconf.Walk(dirs, func(_ []string, d *ngxconf.Directive) {
			if strings.HasPrefix(d.Name, "more_") {
				found = true
			}
		})
	}
	return found
}

// headersMore checks that the Ingress's allowed snippets can be served:
// when they use headers-more and nginx has no such module, the Ingress is
// not served (its paths answer 503) and the snippets are dropped, since
// their directives without the module would fail nginx -t for everyone.
func (b *builder) headersMore(ing *networkingv1.Ingress, policy *locationPolicy) {
	if b.global.HeadersMoreModule != "" || !usesHeadersMore(policy.snippet, policy.serverSnippet) {
		return
	}
	b.notServed(ingressRef(ing), ReasonHeadersMoreUnavailable,
		"the snippet uses more_* directives but nginx has no headers-more module (install libnginx-mod-http-headers-more-filter); "+
			"the Ingress's paths answer 503 rather than go without its headers")
	policy.snippet, policy.serverSnippet, policy.denied = nil, nil, true
}

// headersMoreToLoad is the headers-more module cfg must load: set only
// when a served snippet uses it, so that configs without it stay as they
// were.
func headersMoreToLoad(cfg *Config) string {
	uses := func(s *Server) bool {
		if usesHeadersMore(s.Snippet) {
			return true
		}
		for _, l := range s.Locations {
			if usesHeadersMore(l.Snippet) {
				return true
			}
		}
		return false
	}
	if uses(&cfg.DefaultServer) {
		return cfg.Global.HeadersMoreModule
	}
	for i := range cfg.Servers {
		if uses(&cfg.Servers[i]) {
			return cfg.Global.HeadersMoreModule
		}
	}
	return ""
}
