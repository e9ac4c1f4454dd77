package compat

import (
	"cmp"
	"slices"
	"sync"
)

// The orphan_ingress type label's values, as ingress-nginx names them.
const (
	// OrphanNoService marks an Ingress a backend of which names a Service
	// that does not exist.
	OrphanNoService = "no-service"
	// OrphanNoEndpoint marks an Ingress a backend of which has no ready
	// endpoint.
	OrphanNoEndpoint = "no-endpoint"
)

// Orphan is an Ingress that is orphaned in one of ingress-nginx's senses.
type Orphan struct {
	// Namespace and Ingress name the Ingress.
	Namespace, Ingress string
	// Type is OrphanNoService or OrphanNoEndpoint.
	Type string
}

// Orphans holds the orphaned Ingresses of the live configuration, set after
// each sync and read at each scrape. The zero value is ready to use.
type Orphans struct {
	mu   sync.Mutex
	list []Orphan
}

// Set replaces the list: an Ingress no longer orphaned leaves no series.
func (o *Orphans) Set(list []Orphan) {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b Orphan) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Ingress, b.Ingress), cmp.Compare(a.Type, b.Type))
	})
	list = slices.Compact(list)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.list = list
}

// List returns the list last Set; the caller must not modify it.
func (o *Orphans) List() []Orphan {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.list
}
