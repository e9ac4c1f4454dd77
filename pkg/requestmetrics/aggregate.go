package requestmetrics

import (
	"strings"

	"github.com/portico-ingress/portico/pkg/model"
)

// RouteLabels are the labels a route stands for: the Ingress (and its
// backend Service and path) whose location set the route.
type RouteLabels struct {
	// Namespace and Ingress name the Ingress.
	Namespace, Ingress string
	// Service is the backend Service's name, or "".
	Service string
	// Path is the Ingress path as written.
	Path string
}

// labels are one exported label set, ingress-nginx's request labels.
type labels struct {
	status, method, path, namespace, ingress, service, canary, host string
}

// values are the label values in labelNames' order (host last, only when
// exported).
func (l labels) values(perHost bool) []string {
	v := []string{l.status, l.method, l.path, l.namespace, l.ingress, l.service, l.canary}
	if perHost {
		v = append(v, l.host)
	}
	return v
}

// labelNames are ingress-nginx's request labels, in its order.
func labelNames(perHost bool) []string {
	n := []string{"status", "method", "path", "namespace", "ingress", "service", "canary"}
	if perHost {
		n = append(n, "host")
	}
	return n
}

// dropOrder names the labels the cap removes, finest first: level N drops
// the first N. The status code becomes its class before it goes
// altogether, so an error rate survives almost any cap. coarsen follows
// the same order.
func dropOrder() []string {
	return []string{"host", "path", "method", "status code", "canary", "service", "ingress", "namespace", "status class"}
}

// maxLevel is the coarsest level: every label but the constant ones gone.
const maxLevel = 9

// Dropped names the labels the cap removes at level (0: none).
func Dropped(level int) string {
	if level <= 0 {
		return ""
	}
	order := dropOrder()
	return strings.Join(order[:min(level, len(order))], ", ")
}

// coarsen removes the labels of level from l, in dropOrder's order.
func coarsen(l labels, level int) labels {
	for i := range min(level, maxLevel) {
		switch i {
		case 0:
			l.host = ""
		case 1:
			l.path = ""
		case 2:
			l.method = ""
		case 3:
			l.status = statusClass(l.status)
		case 4:
			l.canary = ""
		case 5:
			l.service = ""
		case 6:
			l.ingress = ""
		case 7:
			l.namespace = ""
		case 8:
			l.status = ""
		}
	}
	return l
}

// statusClass is ingress-nginx's --report-status-classes form: "2xx".
func statusClass(s string) string {
	if s == "" || strings.HasSuffix(s, "xx") {
		return s
	}
	return s[:1] + "xx"
}

// aggregation is the label sets to export, at the level the cap allowed.
type aggregation struct {
	sets  map[labels][]float64
	level int
	// fine is how many label sets there were before the cap.
	fine int
	// unknown are routes with figures that no live location has.
	unknown []string
}

// aggregate names d's label sets after their routes and merges those that
// end up alike, dropping labels level by level until at most maxSets remain.
func aggregate(d dump, routes map[string]RouteLabels, o Options, maxSets int) aggregation {
	fine := map[labels][]float64{}
	seenUnknown := map[string]bool{}
	var unknown []string
	for k, rec := range d.sets {
		rl, ok := routes[k.route]
		if !ok && k.route != "" && !seenUnknown[k.route] {
			seenUnknown[k.route] = true
			unknown = append(unknown, k.route)
		}
		l := labels{status: k.status, method: k.method, path: rl.Path, namespace: rl.Namespace,
			ingress: rl.Ingress, service: rl.Service, canary: k.canary, host: k.host}
		if !o.PerHost {
			l.host = ""
		}
		if o.StatusClasses {
			l.status = statusClass(l.status)
		}
		addInto(fine, l, rec)
	}
	a := aggregation{sets: fine, fine: len(fine), unknown: unknown}
	for a.level < maxLevel && len(a.sets) > maxSets {
		a.level++
		coarse := map[labels][]float64{}
		for l, rec := range fine {
			addInto(coarse, coarsen(l, a.level), rec)
		}
		a.sets = coarse
	}
	return a
}

func addInto(m map[labels][]float64, l labels, rec []float64) {
	if cur, ok := m[l]; ok {
		for i := range rec {
			cur[i] += rec[i]
		}
		return
	}
	m[l] = append([]float64(nil), rec...)
}

// RoutesOf returns the labels of cfg's routes: each routed location of an
// Ingress stands for that Ingress, its Service and its path. Locations of
// no Ingress (the default server's) have no entry; their requests carry
// empty labels, as ingress-nginx's do.
func RoutesOf(cfg *model.Config) map[string]RouteLabels {
	out := map[string]RouteLabels{}
	for i := range cfg.Servers {
		s := &cfg.Servers[i]
		for j := range s.Locations {
			l := &s.Locations[j]
			if l.Route == "" || l.Vars == nil {
				continue
			}
			out[l.Route] = RouteLabels{Namespace: l.Vars.Namespace, Ingress: l.Vars.Ingress, Service: l.Vars.Service, Path: l.Vars.Path}
		}
	}
	return out
}
