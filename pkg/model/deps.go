package model

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// depLog records which Services, EndpointSlices, Secrets and ConfigMaps a
// build read, and what it found (nil: absent), so that a cached result can
// be reused exactly while they are the same objects (units.go).
type depLog struct {
	services   map[string]*corev1.Service
	slices     map[string][]*discoveryv1.EndpointSlice
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func newDepLog() *depLog {
	return &depLog{
		services:   map[string]*corev1.Service{},
		slices:     map[string][]*discoveryv1.EndpointSlice{},
		secrets:    map[string]*corev1.Secret{},
		configMaps: map[string]*corev1.ConfigMap{},
	}
}

// same reports whether every object recorded is still what b finds.
func (d *depLog) same(b *builder) bool {
	for k, s := range d.services {
		if b.services[k] != s {
			return false
		}
	}
	for k, s := range d.secrets {
		if b.secrets[k] != s {
			return false
		}
	}
	for k, c := range d.configMaps {
		if b.configMaps[k] != c {
			return false
		}
	}
	for k, list := range d.slices {
		// The snapshot's order of slices is not stable; what is read from
		// them is (readyEndpoints sorts).
		now := b.slices[k]
		if len(now) != len(list) {
			return false
		}
		for _, es := range list {
			if !slices.Contains(now, es) {
				return false
			}
		}
	}
	return true
}

// service, endpointSlices, secret and configMap read the snapshot's
// objects by "namespace/name", recording the read when b.deps is set.
func (b *builder) service(k string) (*corev1.Service, bool) {
	s, ok := b.services[k]
	if b.deps != nil {
		b.deps.services[k] = s
	}
	return s, ok
}

func (b *builder) endpointSlices(k string) []*discoveryv1.EndpointSlice {
	list := b.slices[k]
	if b.deps != nil {
		b.deps.slices[k] = list
	}
	return list
}

func (b *builder) secret(k string) (*corev1.Secret, bool) {
	s, ok := b.secrets[k]
	if b.deps != nil {
		b.deps.secrets[k] = s
	}
	return s, ok
}

func (b *builder) configMap(k string) (*corev1.ConfigMap, bool) {
	c, ok := b.configMaps[k]
	if b.deps != nil {
		b.deps.configMaps[k] = c
	}
	return c, ok
}
