package model

import (
	"regexp"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
)

// locationVars are the per-location variables of the locations an Ingress
// backend makes (ingress-nginx sets the same in each location), be being
// nil for a location without a Service of the Ingress's own. The names are
// the API server's (DNS labels and subdomains, port names); a name that
// is not (objects read from files skip the API server's checks) becomes
// "-", because "set" would expand a "$" in it. The template still prints
// them through the quoting function.
func locationVars(ing *networkingv1.Ingress, be *networkingv1.IngressBackend) *LocationVars {
	v := &LocationVars{Namespace: varName(ing.Namespace), Ingress: varName(ing.Name)}
	if be == nil || be.Service == nil {
		return v
	}
	v.Service = varName(be.Service.Name)
	v.ServicePort = be.Service.Port.Name
	if be.Service.Port.Number != 0 {
		v.ServicePort = strconv.Itoa(int(be.Service.Port.Number))
	}
	v.ServicePort = varName(v.ServicePort)
	v.Upstream = v.Namespace + "-" + v.Service + "-" + v.ServicePort
	return v
}

// varNamePattern is what a Kubernetes object or port name may hold.
var varNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)

// varName returns s if it is a Kubernetes name, else "-".
func varName(s string) string {
	if varNamePattern.MatchString(s) {
		return s
	}
	return "-"
}
