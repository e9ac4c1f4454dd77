package model

import (
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// wwwRedirect is one from-to-www-redirect request: requests for from are
// answered with a 308 to to. It is kept until every Ingress is added, so
// that a rule naming from wins whichever Ingress is older.
type wwwRedirect struct {
	from, to string
	source   string
	ref      ObjectRef
}

// wantWWWRedirect records the redirect for one rule host of an Ingress with
// from-to-www-redirect: www.H for H, and H for www.H, as ingress-nginx does.
func (b *builder) wantWWWRedirect(host, source string, ref ObjectRef) {
	switch {
	case host == "":
		b.ignored(ref, ReasonIneffectiveAnnotation, "from-to-www-redirect has no effect on a rule without host")
		return
	case strings.HasPrefix(host, "*."):
		b.ignored(ref, ReasonIneffectiveAnnotation, "from-to-www-redirect does not apply to the wildcard host %q", host)
		return
	}
	from := "www." + host
	if bare, ok := strings.CutPrefix(host, "www."); ok {
		from = bare
	}
	if err := validateHost(from); err != nil {
		b.ignored(ref, ReasonIneffectiveAnnotation, "from-to-www-redirect for host %q skipped: %q is not a valid host: %v", host, excerpt.Of(from), err)
		return
	}
	b.wwwRedirects = append(b.wwwRedirects, wwwRedirect{from: from, to: host, source: source, ref: ref})
}

// addWWWRedirects gives each recorded redirect its server, whose only
// location answers 308 to the rule host, keeping path and query. A name
// that a rule or a server-alias already uses keeps its routes: redirecting
// it would take them away (a Conflict finding, unless the same Ingress
// names both hosts, which is how ingress-nginx users opt out).
func (b *builder) addWWWRedirects() {
	done := map[string]string{} // from -> to, for Ingresses sharing a host
	for _, r := range b.wwwRedirects {
		if to, ok := done[r.from]; ok && to == r.to {
			continue
		}
		srv, exists := b.servers[r.from]
		if exists {
			owner := ""
			for _, src := range srv.claims {
				if owner == "" || src < owner {
					owner = src
				}
			}
			switch {
			case owner == r.source:
				continue
			case owner != "":
				b.ignored(r.ref, ReasonConflict, "from-to-www-redirect for %q is ignored: the Ingress %s routes that host", r.from, owner)
				continue
			case srv.tls == nil:
				b.ignored(r.ref, ReasonConflict, "from-to-www-redirect for %q is ignored: an Ingress rule names that host", r.from)
				continue
			case srv.tlsSource != r.source:
				b.ignored(r.ref, ReasonConflict, "from-to-www-redirect for %q is ignored: the Ingress %s sets TLS for that host", r.from, srv.tlsSource)
				continue
			}
		}
		if owner, taken := b.aliasOwner[r.from]; taken {
			b.ignored(r.ref, ReasonConflict, "from-to-www-redirect for %q is ignored: host %q has it as server-alias", r.from, owner)
			continue
		}
		done[r.from] = r.to
		srv = b.server(r.from)
		srv.claims[ruleKey{path: "/"}] = r.source
		// $scheme and $request_uri are nginx's: the host was validated, so
		// the URL holds no user text nginx could expand.
		srv.locations.put(Location{Path: "/", Source: r.source,
			Action: Action{Return: 308, ReturnURL: "$scheme://" + r.to + "$request_uri"}}, located{})
	}
}
