package model

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// LegacyClassAnnotation is the deprecated annotation that named the class before spec.ingressClassName.
const LegacyClassAnnotation = "kubernetes.io/ingress.class"

// DefaultClassAnnotation marks an IngressClass as the cluster default.
const DefaultClassAnnotation = "ingressclass.kubernetes.io/is-default-class"

// classSelector decides which Ingresses this controller serves.
type classSelector struct {
	// known maps every IngressClass name to whether its controller is ours.
	known        map[string]bool
	legacyName   string
	defaultOurs  bool
	withoutClass bool
}

func newClassSelector(classes []*networkingv1.IngressClass, opts Options) classSelector {
	sel := classSelector{
		known:        make(map[string]bool, len(classes)),
		legacyName:   opts.IngressClass,
		withoutClass: opts.WatchIngressWithoutClass,
	}
	for _, c := range classes {
		ours := c.Spec.Controller == opts.ControllerClass
		sel.known[c.Name] = ours
		if ours && c.Annotations[DefaultClassAnnotation] == "true" {
			sel.defaultOurs = true
		}
	}
	return sel
}

// named reports whether a class name is ours: an IngressClass of that name
// must name our controller; with no such IngressClass, the name must be our
// --ingress-class (so a manifests directory works without an IngressClass).
func (c classSelector) named(name string) bool {
	if ours, ok := c.known[name]; ok {
		return ours
	}
	return name != "" && name == c.legacyName
}

func (c classSelector) ours(ing *networkingv1.Ingress) bool {
	if ing.Spec.IngressClassName != nil {
		return c.named(*ing.Spec.IngressClassName)
	}
	if name, ok := ing.Annotations[LegacyClassAnnotation]; ok {
		return c.named(name)
	}
	return c.defaultOurs || c.withoutClass
}

// OfOurClass returns the test Build uses to pick the Ingresses of this
// controller's class, so that a report selects them exactly as Build does.
func OfOurClass(classes []*networkingv1.IngressClass, opts Options) func(*networkingv1.Ingress) bool {
	return newClassSelector(classes, opts).ours
}
