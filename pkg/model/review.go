package model

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// Reviews: what Build would find about one object if it replaced its
// current version in a snapshot, without building the whole snapshot
// again (the admission webhook asks this of every Ingress written).
//
// An Ingress can only be affected by the Ingresses it shares a server
// with, as units.go argues for the incremental build, so a review builds
// the Ingress under review among the Ingresses connected to it by the
// names they serve, against the index of the whole snapshot made once.
// The names are a superset of what units use, so that what reaches across
// hosts is covered too: an Ingress that touches the catch-all server (a
// rule or TLS section without host, a default backend) or names other
// servers (server-alias, from-to-www-redirect) is connected to every other
// such Ingress and to the hosts it names. TestReviewEqualsWhole compares
// a review's findings with a whole build's on every fixture.

// catchAll is the name under which Ingresses reaching across hosts meet;
// no host can be empty.
const catchAll = ""

// Review is a snapshot prepared for reviewing objects against it. It only
// reads the snapshot, and holds nothing of the objects it reviews, so
// reviews may run concurrently.
type Review struct {
	snap *snapshot.Snapshot
	idx  index
	// names maps each name an Ingress serves to the indexes of the
	// snapshot's Ingresses that serve it; namesOfIndex is the other way,
	// made once, not on every review that reaches the Ingress.
	names            map[string][]int
	namesOfIndex     [][]string
	aliasKey, wwwKey string
	ours             func(*networkingv1.Ingress) bool
	// parser is shared by the reviews' builds.
	parser *annotations.Parser
}

// NewReview prepares snap for reviews under opts (whose AnnotationPrefix,
// classes and controller settings must be those reviews use). It costs
// about what the index of one Build costs; make one per snapshot.
func NewReview(snap *snapshot.Snapshot, opts Options) *Review {
	if snap == nil {
		snap = &snapshot.Snapshot{}
	}
	b := newBuilderOn(snap, opts, index{}, nil)
	r := &Review{
		snap:         snap,
		idx:          newIndex(snap),
		names:        make(map[string][]int, len(snap.Ingresses)),
		namesOfIndex: make([][]string, len(snap.Ingresses)),
		aliasKey:     b.parser.Key("server-alias"),
		wwwKey:       b.parser.Key("from-to-www-redirect"),
		ours:         b.classes.ours,
		parser:       b.parser,
	}
	for i, ing := range snap.Ingresses {
		r.namesOfIndex[i] = r.namesOf(ing)
		for _, n := range r.namesOfIndex[i] {
			r.names[n] = append(r.names[n], i)
		}
	}
	return r
}

// Ours reports whether the Ingress is of this controller's class in the
// prepared snapshot.
func (r *Review) Ours(ing *networkingv1.Ingress) bool { return r.ours(ing) }

// namesOf returns the names an Ingress could share a server under, with
// repeats.
func (r *Review) namesOf(ing *networkingv1.Ingress) []string {
	var out []string
	for _, rule := range ing.Spec.Rules {
		out = append(out, rule.Host)
	}
	for _, t := range ing.Spec.TLS {
		out = append(out, t.Hosts...)
	}
	if unitLocal(ing, r.aliasKey, r.wwwKey) {
		return out
	}
	hosts := len(out)
	out = append(out, catchAll)
	for _, h := range out[:hosts] {
		if bare, ok := strings.CutPrefix(h, "www."); ok {
			out = append(out, bare)
		} else if h != "" {
			out = append(out, "www."+h)
		}
	}
	for _, a := range strings.FieldsFunc(ing.Annotations[r.aliasKey], func(c rune) bool { return c == ',' || c == ' ' }) {
		out = append(out, strings.ToLower(a))
	}
	return out
}

// related returns the snapshot's Ingresses connected to ing by the names
// they serve, with ing in place of the snapshot's version of it (first).
func (r *Review) related(ing *networkingv1.Ingress) []*networkingv1.Ingress {
	all := r.snap.Ingresses
	seen := map[int]bool{}
	visited := map[string]bool{}
	queue := r.namesOf(ing)
	out := []*networkingv1.Ingress{ing}
	for len(queue) > 0 {
		n := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if visited[n] {
			continue
		}
		visited[n] = true
		for _, i := range r.names[n] {
			other := all[i]
			if seen[i] || (other.Namespace == ing.Namespace && other.Name == ing.Name) {
				continue
			}
			seen[i] = true
			out = append(out, other)
			queue = append(queue, r.namesOfIndex[i]...)
		}
	}
	return out
}

// Ingress returns the findings Build would report if ing replaced the
// snapshot's version of it (or joined the snapshot, for a new one); the
// findings about other objects than ing are left out. opts must be those
// NewReview had. Their LastAccepted and LastOwners (the controller's live
// config) apply to the other Ingresses, as the next build would apply
// them; never to ing, which is judged as it is written.
func (r *Review) Ingress(ing *networkingv1.Ingress, opts Options) []Finding {
	sub := *r.snap
	sub.Ingresses = r.related(ing)
	if opts.LastAccepted != nil {
		// Only the related Ingresses are built: a map of theirs, not a
		// copy of every version the controller serves.
		accepted := make(map[string]*networkingv1.Ingress, len(sub.Ingresses))
		for _, other := range sub.Ingresses[1:] {
			k := key(other.Namespace, other.Name)
			if v, ok := opts.LastAccepted[k]; ok {
				accepted[k] = v
			}
		}
		opts.LastAccepted = accepted
	}
	_, findings := r.build(&sub, opts)
	return about(findings, "Ingress", ing.Namespace, ing.Name)
}

// ConfigMap returns the findings about the options ConfigMap Build would
// report if cm replaced the snapshot's version of it. Its options are
// checked alone: no Ingress is built.
func (r *Review) ConfigMap(cm *corev1.ConfigMap, opts Options) []Finding {
	opts.LastAccepted, opts.LastOwners = nil, nil // no Ingress is built
	sub := *r.snap
	sub.Ingresses = nil
	sub.ConfigMaps = make([]*corev1.ConfigMap, 0, len(r.snap.ConfigMaps)+1)
	for _, c := range r.snap.ConfigMaps {
		if c.Namespace != cm.Namespace || c.Name != cm.Name {
			sub.ConfigMaps = append(sub.ConfigMaps, c)
		}
	}
	sub.ConfigMaps = append(sub.ConfigMaps, cm)
	_, findings := r.build(&sub, opts)
	return about(findings, "ConfigMap", cm.Namespace, cm.Name)
}

// about keeps the findings about one object, whatever its UID says: the
// API server gives an object its UID before admission, and a finding
// about a missing object has none.
func about(findings []Finding, kind, namespace, name string) []Finding {
	return slices.DeleteFunc(findings, func(f Finding) bool {
		return f.Object.Kind != kind || f.Object.Namespace != namespace || f.Object.Name != name
	})
}

// build is Build on the prepared index; sub differs from the prepared
// snapshot in its Ingresses and ConfigMaps only (which the index does not
// hold the options of). A key pair cache of its own checks the key pairs
// of this build alone and is dropped with it.
func (r *Review) build(sub *snapshot.Snapshot, opts Options) (*Config, []Finding) {
	opts.Units = nil
	opts.KeyPairs = NewKeyPairCache()
	build := opts.KeyPairs.begin()
	idx := r.idx
	if !slices.Equal(sub.ConfigMaps, r.snap.ConfigMaps) {
		// Per-Ingress ConfigMaps (custom headers, auth snippets) are read
		// through the index: give it the one under review.
		idx.configMaps = make(map[string]*corev1.ConfigMap, len(sub.ConfigMaps))
		for _, cm := range sub.ConfigMaps {
			idx.configMaps[key(cm.Namespace, cm.Name)] = cm
		}
	}
	b := configuredBuilder(sub, opts, build, idx, r.parser)
	b.ingresses = b.sortedIngresses(sub.Ingresses)
	b.checkKeyPairs(b.ingresses)
	return b.whole()
}
