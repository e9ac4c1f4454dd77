package model

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// depLog records which Services, EndpointSlices, Secrets, ConfigMaps and
// DNS answers a build read, and what it found (nil: absent), so that a cached result can
// be reused exactly while they are the same objects (units.go). A unit
// reads a handful, so lists are smaller than maps and as quick to check.
type depLog struct {
	services   []dep[*corev1.Service]
	slices     []dep[[]*discoveryv1.EndpointSlice]
	secrets    []dep[*corev1.Secret]
	configMaps []dep[*corev1.ConfigMap]
	// answers are the resolver's answers read (snapshot.Resolved), compared
	// by value: the controller hands a new map when any answer changes.
	answers []dep[[]netip.Addr]
}

type dep[T any] struct {
	key  string
	seen T
}

// same reports whether every object recorded is still what b finds.
func (d *depLog) same(b *builder) bool {
	if !unchanged(d.services, b.services) || !unchanged(d.secrets, b.secrets) || !unchanged(d.configMaps, b.configMaps) {
		return false
	}
	for _, r := range d.answers {
		if !slices.Equal(b.resolved[r.key], r.seen) {
			return false
		}
	}
	for _, r := range d.slices {
		// The snapshot's order of slices is not stable; what is read from
		// them is (readyEndpoints sorts).
		now := b.slices[r.key]
		if len(now) != len(r.seen) {
			return false
		}
		for _, es := range r.seen {
			if !slices.Contains(now, es) {
				return false
			}
		}
	}
	return true
}

// unchanged reports whether m still holds every object the reads found
// (the same pointer, or still none).
func unchanged[T comparable](reads []dep[T], m map[string]T) bool {
	for _, r := range reads {
		if m[r.key] != r.seen {
			return false
		}
	}
	return true
}

// service, endpointSlices, secret and configMap read the snapshot's
// objects by "namespace/name", recording the read when b.deps is set.
func (b *builder) service(k string) (*corev1.Service, bool) {
	s, ok := b.services[k]
	if b.deps != nil {
		b.deps.services = append(b.deps.services, dep[*corev1.Service]{k, s})
	}
	return s, ok
}

func (b *builder) endpointSlices(k string) []*discoveryv1.EndpointSlice {
	list := b.slices[k]
	if b.deps != nil {
		b.deps.slices = append(b.deps.slices, dep[[]*discoveryv1.EndpointSlice]{k, list})
	}
	return list
}

func (b *builder) secret(k string) (*corev1.Secret, bool) {
	s, ok := b.secrets[k]
	if b.deps != nil {
		b.deps.secrets = append(b.deps.secrets, dep[*corev1.Secret]{k, s})
	}
	return s, ok
}

func (b *builder) configMap(k string) (*corev1.ConfigMap, bool) {
	c, ok := b.configMaps[k]
	if b.deps != nil {
		b.deps.configMaps = append(b.deps.configMaps, dep[*corev1.ConfigMap]{k, c})
	}
	return c, ok
}

// answers reads the resolver's answers for a DNS name, recording the read
// when b.deps is set.
func (b *builder) answers(name string) []netip.Addr {
	a := b.resolved[name]
	if b.deps != nil {
		b.deps.answers = append(b.deps.answers, dep[[]netip.Addr]{name, a})
	}
	return a
}
