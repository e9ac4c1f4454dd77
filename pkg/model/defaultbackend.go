package model

import (
	"fmt"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
)

// unavailable reports an action that answers 503 because its Service has
// no ready endpoints (or is missing): the default-backend annotation takes
// those over, and nothing else (a refused request must stay refused).
func unavailable(a Action) bool {
	return a.Upstream == "" && a.ExternalHost == "" && a.Return == statusUnavailable
}

// annotationDefaultBackend resolves the default-backend annotation. The
// Service is always in the Ingress's namespace: naming another would route
// to a Service the Ingress author may not own.
func (b *builder) annotationDefaultBackend(ing *networkingv1.Ingress, db annotations.DefaultBackend) *Action {
	ref := ingressRef(ing)
	var port networkingv1.ServiceBackendPort
	switch n, err := strconv.Atoi(db.Port); {
	case db.Port == "":
		if svc, ok := b.service(key(ing.Namespace, db.Service)); ok && len(svc.Spec.Ports) > 0 {
			port.Number = svc.Spec.Ports[0].Port
		}
	case err == nil:
		port.Number = int32(n)
	default:
		port.Name = db.Port
	}
	a := b.serviceBackend(ing.Namespace, db.Service, port, false, ref)
	return &a
}

// customErrors makes one named location per custom-http-errors code, each
// proxying to the default backend with the code in X-Code. Names come from
// a hash of the Ingress and the code, never from user text.
func (b *builder) customErrors(ing *networkingv1.Ingress, db annotations.DefaultBackend, backend *Action) ([]ErrorPage, []ErrorLocation) {
	if len(db.CustomHTTPErrors) == 0 {
		return nil, nil
	}
	if backend == nil {
		b.ignored(ingressRef(ing), ReasonIneffectiveAnnotation, "custom-http-errors has no effect without default-backend")
		return nil, nil
	}
	id := hashID(ing)
	var pages []ErrorPage
	var locs []ErrorLocation
	for _, code := range db.CustomHTTPErrors {
		name := fmt.Sprintf("@portico_err_%s_%d", id, code)
		pages = append(pages, ErrorPage{Code: code, Location: name})
		locs = append(locs, ErrorLocation{Name: name, Code: code, Namespace: ing.Namespace, Ingress: ing.Name,
			Service: db.Service, Action: *backend})
	}
	return pages, locs
}

// addErrorLocations registers an Ingress's custom error locations on a server.
func (s *serverBuilder) addErrorLocations(locs []ErrorLocation) {
	for _, l := range locs {
		putIn(&s.errorLocs, l.Name, l)
	}
}
