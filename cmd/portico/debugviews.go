package main

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/status"
)

// debugViews keeps what /debug/certs and /debug/ingresses show: the live
// config and the last build's findings. The views are built when asked
// for, not at every sync, so that a controller nobody inspects pays
// nothing for them (parsing thousands of certificates per sync would).
type debugViews struct {
	mu       sync.Mutex
	live     *model.Config
	findings []model.Finding
}

// Live records the config nginx now serves; the controller does not
// change a config once it is live, so keeping the pointer is safe.
func (d *debugViews) Live(cfg *model.Config) {
	d.mu.Lock()
	d.live = cfg
	d.mu.Unlock()
}

// Findings implements controller.FindingRecorder.
func (d *debugViews) Findings(f []model.Finding) {
	// A copy: the caller owns f and may reuse it for the next build.
	f = slices.Clone(f)
	d.mu.Lock()
	d.findings = f
	d.mu.Unlock()
}

func (d *debugViews) state() (*model.Config, []model.Finding) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.live, d.findings
}

// Certificates lists the certificates of the TLS Secrets the live config
// serves. Only certs.Info's fields are copied: the PEM, which holds the
// key, never reaches the view.
func (d *debugViews) Certificates() []status.CertificateView {
	cfg, _ := d.state()
	if cfg == nil {
		return nil
	}
	hosts := map[string][]string{}
	for _, e := range servedExpiries(cfg) {
		hosts[e.Namespace+"/"+e.Secret] = e.Hosts
	}
	var out []status.CertificateView
	for _, c := range cfg.Certificates {
		ns, name, ok := strings.Cut(c.Secret, "/")
		if !ok {
			continue // CA bundles and backend client pairs are not served certificates
		}
		v := status.CertificateView{Namespace: ns, Secret: name, Hosts: hosts[c.Secret]}
		if v.Hosts == nil {
			v.Hosts = []string{}
		}
		info, err := certs.Describe(c.PEM)
		if err != nil {
			v.Error = err.Error()
		} else {
			v.Subject, v.DNSNames, v.Issuer, v.Serial = info.Subject, info.DNSNames, info.Issuer, info.Serial
			v.NotBefore, v.NotAfter, v.SHA256Fingerprint = info.NotBefore, info.NotAfter, info.SHA256
		}
		if v.DNSNames == nil {
			v.DNSNames = []string{}
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b status.CertificateView) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Secret, b.Secret))
	})
	return out
}

// Ingresses lists the Ingresses the live config serves, with their routes,
// and those the last build only has findings about.
func (d *debugViews) Ingresses() []status.IngressView {
	cfg, findings := d.state()
	views := map[string]*status.IngressView{}
	view := func(key string) *status.IngressView {
		v := views[key]
		if v == nil {
			ns, name, _ := strings.Cut(key, "/")
			v = &status.IngressView{Namespace: ns, Name: name, Paths: []status.PathView{}, Findings: []status.FindingView{}}
			views[key] = v
		}
		return v
	}
	if cfg != nil {
		for _, ref := range cfg.Ingresses {
			view(ref.Namespace + "/" + ref.Name).Served = true
		}
		servers := append([]model.Server{cfg.DefaultServer}, cfg.Servers...)
		for i := range servers {
			addPaths(&servers[i], view)
		}
	}
	for _, f := range findings {
		if f.Object.Kind != "Ingress" {
			continue
		}
		v := view(f.Object.Namespace + "/" + f.Object.Name)
		v.Findings = append(v.Findings, status.FindingView{Reason: f.Reason, Severity: string(f.Severity), Message: f.Message})
	}
	out := make([]status.IngressView, 0, len(views))
	for _, v := range views {
		slices.SortFunc(v.Paths, func(a, b status.PathView) int {
			return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Path, b.Path), cmp.Compare(a.Match, b.Match),
				cmp.Compare(a.Upstream, b.Upstream))
		})
		v.Paths = slices.Compact(v.Paths)
		out = append(out, *v)
	}
	slices.SortFunc(out, func(a, b status.IngressView) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return out
}

// addPaths adds the locations of s to the Ingresses they came from; a
// canary's share of a location goes to the canary Ingress.
func addPaths(s *model.Server, view func(string) *status.IngressView) {
	secret := ""
	if s.TLS != nil {
		secret = s.TLS.Secret
	}
	for _, l := range s.Locations {
		if l.Source == "" {
			continue // generated fallbacks belong to no Ingress
		}
		p := status.PathView{Host: s.Name, Path: l.Path, Match: matchName(l.Modifier), Service: l.Action.Service,
			Upstream: l.Action.Upstream, Return: l.Action.Return, TLSSecret: secret}
		v := view(l.Source)
		v.Paths = append(v.Paths, p)
		if c := l.Action.Canary; c != nil && c.Source != "" {
			p.Upstream, p.Service, p.Return, p.Canary = c.Backend, "", 0, true
			cv := view(c.Source)
			cv.Paths = append(cv.Paths, p)
		}
	}
}

// matchName spells an nginx location modifier the way people say it.
func matchName(modifier string) string {
	switch modifier {
	case "=":
		return "exact"
	case "~":
		return "regex"
	case "~*":
		return "regex-caseless"
	default:
		return "prefix"
	}
}
