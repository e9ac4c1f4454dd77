package model

import (
	"slices"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// snippetKeys are the snippet annotations, without the prefix.
var snippetKeys = []string{"configuration-snippet", "server-snippet"}

// snippetsAllowed reports whether the operator allows ing's namespace snippets.
func (b *builder) snippetsAllowed(ing *networkingv1.Ingress) bool {
	return slices.Contains(b.opts.SnippetNamespaces, ing.Namespace)
}

// hasSnippets reports whether ing carries a snippet annotation, valid or not.
func (b *builder) hasSnippets(ing *networkingv1.Ingress) bool {
	for _, k := range snippetKeys {
		if ing.Annotations[b.parser.Key(k)] != "" {
			return true
		}
	}
	return false
}

// parse parses annotations (ing's, or its last accepted version's). In a
// namespace the operator does not allow snippets, a snippet is ignored
// whatever it holds (policy reports SnippetNotAllowed): one the allowlist
// would refuse must not keep an Ingress migrated from ingress-nginx, say
// with more_set_headers, from being served.
func (b *builder) parse(ing *networkingv1.Ingress, anns map[string]string) (annotations.Set, []annotations.Problem) {
	set, problems := b.parser.Parse(anns)
	if b.snippetsAllowed(ing) {
		return set, problems
	}
	problems = slices.DeleteFunc(problems, func(p annotations.Problem) bool {
		return p.Kind == annotations.Invalid && (p.Key == b.parser.Key(snippetKeys[0]) || p.Key == b.parser.Key(snippetKeys[1]))
	})
	set.Snippets = annotations.Snippets{}
	return set, problems
}

// Snippets in the model (the allowlist itself is pkg/annotations'). What
// is left here needs the host: nginx refuses a server block with two
// locations of the same exact, prefix or named match, and a refused config
// stops every later reload, so a server-snippet's locations and the
// host's other locations must never meet.

// hasDirective reports whether dirs holds name at its top level.
func hasDirective(dirs []*ngxconf.Directive, name string) bool {
	for _, d := range dirs {
		if d.Name == name {
			return true
		}
	}
	return false
}

// taken reports whether the host has a location with key k already,
// from its Ingresses' paths or from its server-snippet.
func (s *serverBuilder) taken(k locKey) bool {
	return s.locations.has(k) || s.snippetLocs[k]
}

// snippetLocKey is the key of a server-snippet location as the model's
// locations are keyed; named locations keep their "@" in the path.
func snippetLocKey(l annotations.SnippetLocation) locKey {
	if l.Modifier == "@" {
		return locKey{modifier: "@", path: l.Path}
	}
	return locKey{modifier: l.Modifier, path: l.Path}
}

// addServerSnippet gives the host the server-snippet of the Ingress
// source, unless an older Ingress gave it one already (one per host, as
// ingress-nginx has it) or one of its locations is one the host has.
// Either way the snippet is ignored for this host with a Conflict.
func (b *builder) addServerSnippet(srv *serverBuilder, ref ObjectRef, source string, dirs []*ngxconf.Directive) {
	switch srv.snippetSource {
	case source:
		return // the host is listed twice in the Ingress
	case "":
	default:
		b.ignored(ref, ReasonConflict, "server-snippet for host %q is ignored: the older Ingress %s already sets the host's server-snippet (one per host)",
			displayHost(srv.name), srv.snippetSource)
		return
	}
	locs := annotations.ServerSnippetLocations(dirs)
	for _, l := range locs {
		k := snippetLocKey(l)
		_, isErrorLoc := srv.errorLocs[l.Path]
		_, isAuth := srv.authEndpoints[l.Path]
		if srv.locations.has(k) || (l.Modifier == "@" && isErrorLoc) || (l.Modifier == "=" && isAuth) {
			b.ignored(ref, ReasonConflict, "server-snippet for host %q is ignored: its location %s is already a location of the host (from an Ingress path or annotation)",
				displayHost(srv.name), locationName(k))
			return
		}
	}
	srv.snippet, srv.snippetSource = dirs, source
	for _, l := range locs {
		putIn(&srv.snippetLocs, snippetLocKey(l), true)
	}
}

// snippetClash returns the location of the host's server-snippet that a
// path claim would duplicate, if any. An exact location a Prefix rule
// adds only where the path is free (the "weak" one) never clashes: the
// snippet's keeps it.
func (s *serverBuilder) snippetClash(claim ruleKey) (locKey, bool) {
	if len(s.snippetLocs) == 0 || claim.regex {
		return locKey{}, false
	}
	k := locKey{modifier: "=", path: claim.path}
	switch {
	case claim.exact:
	case claim.path == "/":
		k = locKey{path: "/"}
	default:
		k = locKey{path: claim.path + "/"}
	}
	return k, s.snippetLocs[k]
}

// locationName prints a location key for messages.
func locationName(k locKey) string {
	if k.modifier == "" || k.modifier == "@" {
		return k.path
	}
	return k.modifier + " " + k.path
}
