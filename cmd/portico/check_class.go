package main

import (
	"fmt"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/verdict"
)

// ingress-nginx's default class name and its IngressClass spec.controller.
const (
	ingressNginxClass   = "nginx"
	ingressNginxControl = "k8s.io/ingress-nginx"
)

// classInfo answers which controller a class name belongs to.
type classInfo struct {
	controllers    map[string]string // IngressClass name -> spec.controller
	defaultClasses []string          // names of IngressClasses marked as the cluster default, sorted
	target         string            // class name an Ingress should name to be ours
}

func newClassInfo(classes []*networkingv1.IngressClass, opts model.Options) classInfo {
	ci := classInfo{controllers: map[string]string{}}
	var ours, oursDefault []string
	for _, c := range classes {
		ci.controllers[c.Name] = c.Spec.Controller
		isDefault := c.Annotations[model.DefaultClassAnnotation] == "true"
		if isDefault {
			ci.defaultClasses = append(ci.defaultClasses, c.Name)
		}
		if c.Spec.Controller == opts.ControllerClass {
			ours = append(ours, c.Name)
			if isDefault {
				oursDefault = append(oursDefault, c.Name)
			}
		}
	}
	slices.Sort(ci.defaultClasses)
	slices.Sort(ours)
	slices.Sort(oursDefault)
	switch {
	case len(oursDefault) > 0:
		ci.target = oursDefault[0]
	case len(ours) > 0:
		ci.target = ours[0]
	default:
		ci.target = opts.IngressClass
	}
	return ci
}

// ingressNginx reports whether ingress-nginx serves an Ingress that is not ours.
func (ci classInfo) ingressNginx(ing *networkingv1.Ingress) bool {
	name, _ := verdict.ClassOf(ing)
	if name == "" {
		for _, d := range ci.defaultClasses {
			if ci.controllers[d] == ingressNginxControl {
				return true
			}
		}
		return false
	}
	if ctrl, ok := ci.controllers[name]; ok {
		return ctrl == ingressNginxControl
	}
	return name == ingressNginxClass
}

// classNote explains why an Ingress of another class is not served and what to change.
func (ci classInfo) classNote(ing *networkingv1.Ingress) string {
	name, legacy := verdict.ClassOf(ing)
	change := fmt.Sprintf("set spec.ingressClassName: %s", ci.target)
	if legacy {
		change += " and remove the " + model.LegacyClassAnnotation + " annotation"
	}
	owner := "another controller"
	if ctrl, ok := ci.controllers[name]; ok && ctrl != "" {
		owner = "controller " + ctrl
	}
	switch {
	case name == "" && ci.ingressNginx(ing):
		return fmt.Sprintf("names no class, so ingress-nginx's default IngressClass takes it: %s to be served by Portico "+
			"(or make Portico's IngressClass the default, or run with --watch-ingress-without-class)", change)
	case name == "":
		return fmt.Sprintf("names no class and no IngressClass of Portico's is the default: %s, "+
			"or run with --watch-ingress-without-class", change)
	case ci.ingressNginx(ing):
		return fmt.Sprintf("class %q belongs to ingress-nginx: %s to be served by Portico", name, change)
	case legacy:
		return fmt.Sprintf("class %q (%s annotation) belongs to %s: %s to be served by Portico", name, model.LegacyClassAnnotation, owner, change)
	default:
		return fmt.Sprintf("class %q belongs to %s: %s to be served by Portico", name, owner, change)
	}
}
