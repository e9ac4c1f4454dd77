// Package snapshot defines the plain set of Kubernetes objects that a source
// hands to the model. Both the manifests-directory source and the Kubernetes
// informer source produce this one type, so the model never knows where the
// objects came from.
package snapshot

import (
	"errors"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Snapshot is a point-in-time copy of every object the model may read.
// Sources must hand over objects they will not mutate afterwards, and hand
// the same objects to every snapshot while they are unchanged (an
// informer's own, a manifests file's as parsed): the model reuses what it
// built from objects it has seen (model.UnitCache). Readers never change
// them.
type Snapshot struct {
	// Ingresses are all Ingress objects, whatever their class.
	Ingresses []*networkingv1.Ingress
	// IngressClasses are all IngressClass objects.
	IngressClasses []*networkingv1.IngressClass
	// Services are the Services Ingresses may refer to.
	Services []*corev1.Service
	// EndpointSlices are the EndpointSlices of those Services.
	EndpointSlices []*discoveryv1.EndpointSlice
	// Secrets are the Secrets Ingresses may refer to (TLS certificates).
	Secrets []*corev1.Secret
	// ConfigMaps are the ConfigMaps that hold global options.
	ConfigMaps []*corev1.ConfigMap
	// Resolved are the addresses of the DNS names of ExternalName Services,
	// by name (lower case, without the final dot), as the controller's
	// resolver last found them (pkg/resolve). They are not Kubernetes
	// objects: the controller fills them in before each build, so that
	// Build stays pure and checks every answer before nginx may use it. A
	// name without an entry has no answer yet. Readers never change them.
	Resolved map[string][]netip.Addr
}

// Len returns the number of objects in the snapshot, for logs and progress.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.Ingresses) + len(s.IngressClasses) + len(s.Services) +
		len(s.EndpointSlices) + len(s.Secrets) + len(s.ConfigMaps)
}

// ErrNotSynced is returned by a source that cannot give a complete snapshot
// yet (caches still filling). Rendering a partial snapshot would briefly
// drop routes after a restart, so callers wait instead.
var ErrNotSynced = errors.New("source has not finished its initial sync")
