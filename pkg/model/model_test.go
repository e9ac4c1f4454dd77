package model_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// expectation is the companion file of a fixture: requests and where the
// model sends them, and the findings it must report.
type expectation struct {
	Options struct {
		WatchIngressWithoutClass bool         `json:"watchIngressWithoutClass"`
		DefaultBackendService    string       `json:"defaultBackendService"`
		DefaultSSLCertificate    string       `json:"defaultSSLCertificate"`
		DisableSSLRedirect       bool         `json:"disableSSLRedirect"`
		HTTPSPort                int          `json:"httpsPort"`
		ConfigMap                string       `json:"configMap"`
		SnippetNamespaces        []string     `json:"snippetNamespaces"`
		OwnAddresses             []netip.Addr `json:"ownAddresses"`
		AllowLoopbackBackends    bool         `json:"allowLoopbackBackends"`
		ControllerPorts          []int        `json:"controllerPorts"`
		Resolvers                []string     `json:"resolvers"`
		AllowSharedHosts         bool         `json:"allowSharedHosts"`
		// Now is the clock certificates are checked against (RFC 3339), none when empty.
		Now time.Time `json:"now"`
		// CertificateExpiryWarning is a Go duration ("336h").
		CertificateExpiryWarning string `json:"certificateExpiryWarning"`
	} `json:"options"`
	// Global lists fields of Config.Global (by JSON name) and their expected values.
	Global   map[string]any `json:"global"`
	Requests []struct {
		Host string `json:"host"`
		Path string `json:"path"`
		// Want is "ns/svc:port" for a proxied request, or a status code like "404".
		Want string `json:"want"`
		// Endpoints, when set, are the upstream's endpoints.
		Endpoints []string `json:"endpoints"`
	} `json:"requests"`
	TLS []struct {
		Host string `json:"host"`
		// Secret is "ns/name", or "" for the default certificate.
		Secret   string `json:"secret"`
		Redirect string `json:"redirect"`
	} `json:"tls"`
	Findings []struct {
		Object   string `json:"object"`
		Reason   string `json:"reason"`
		Severity string `json:"severity"`
		Message  string `json:"message"`
	} `json:"findings"`
	Servers []string `json:"servers"`
	// Proxy lists locations (host, exact path string) and their expected proxy settings.
	Proxy []struct {
		Host string `json:"host"`
		Path string `json:"path"`
		annotations.Proxy
	} `json:"proxy"`
	// Redirects lists prefix locations and whether plain HTTP is redirected to HTTPS.
	Redirects []struct {
		Host  string `json:"host"`
		Path  string `json:"path"`
		HTTPS bool   `json:"https"`
	} `json:"redirects"`
	// DefaultCertificate is a prefix of the default certificate's path.
	DefaultCertificate string `json:"defaultCertificate"`
}

// TestBuildFixtures runs every testdata/<case>.yaml through Build and checks
// it against testdata/<case>.expect.yaml.
func TestBuildFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.expect.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, expectFile := range files {
		name := strings.TrimSuffix(filepath.Base(expectFile), ".expect.yaml")
		t.Run(name, func(t *testing.T) {
			snap := loadSnapshot(t, filepath.Join("testdata", name+".yaml"))
			exp := loadExpectation(t, expectFile)

			cfg, findings := model.Build(snap, exp.options())

			for _, r := range exp.Requests {
				got, upstream := Route(cfg, r.Host, r.Path)
				assert.Equal(t, r.Want, got, "request %s%s", r.Host, r.Path)
				if r.Endpoints != nil {
					assert.Equal(t, r.Endpoints, upstream, "endpoints for %s%s", r.Host, r.Path)
				}
			}
			for _, want := range exp.TLS {
				srv := findServer(cfg, want.Host)
				require.NotNil(t, srv, "server %s", want.Host)
				require.NotNil(t, srv.TLS, "TLS on %s", want.Host)
				assert.Equal(t, want.Secret, srv.TLS.Secret, "TLS secret of %s", want.Host)
				redirect := "none"
				if srv.TLS.RedirectHTTP {
					redirect = "308" + srv.TLS.RedirectPort
				}
				if want.Redirect != "" {
					assert.Equal(t, want.Redirect, redirect, "redirect of %s", want.Host)
				}
			}
			if exp.Global != nil {
				raw, err := json.Marshal(cfg.Global)
				require.NoError(t, err)
				var got map[string]any
				require.NoError(t, json.Unmarshal(raw, &got))
				for k, want := range exp.Global {
					assert.Equal(t, want, got[k], "global %s", k)
				}
			}
			for _, want := range exp.Proxy {
				if l, ok := prefixLocation(t, cfg, want.Host, want.Path); assert.True(t, ok, "location %s%s", want.Host, want.Path) {
					var got annotations.Proxy // nil: the Ingress sets none
					if l.Proxy != nil {
						got = *l.Proxy
					}
					assert.Equal(t, want.Proxy, got, "proxy settings of %s%s", want.Host, want.Path)
				}
			}
			for _, want := range exp.Redirects {
				if l, ok := prefixLocation(t, cfg, want.Host, want.Path); assert.True(t, ok, "location %s%s", want.Host, want.Path) {
					assert.Equal(t, want.HTTPS, l.RedirectHTTPS, "HTTPS redirect of %s%s", want.Host, want.Path)
				}
			}
			if exp.DefaultCertificate != "" {
				assert.True(t, strings.HasPrefix(cfg.Global.DefaultCertificate, exp.DefaultCertificate),
					"default certificate %s", cfg.Global.DefaultCertificate)
				assert.Equal(t, cfg.Global.DefaultCertificate, cfg.DefaultServer.TLS.CertificatePath)
			}
			if exp.Servers != nil {
				var names []string
				for _, s := range cfg.Servers {
					names = append(names, s.Name)
				}
				assert.Equal(t, exp.Servers, names)
			}
			var got []string
			for _, f := range findings {
				got = append(got, f.Object.String()+" "+f.Reason+" "+string(f.Severity))
			}
			var want []string
			for i, f := range exp.Findings {
				want = append(want, f.Object+" "+f.Reason+" "+f.Severity)
				if f.Message != "" && i < len(findings) {
					assert.Contains(t, findings[i].Message, f.Message)
				}
			}
			assert.Equal(t, want, got, "findings: %v", findings)

			// Determinism: the same input gives the same model, whatever the input order.
			again, _ := model.Build(reversed(snap), exp.options())
			assert.Equal(t, cfg, again, "Build must not depend on input order")
		})
	}
}

// loadExpectation reads a fixture's companion file, strictly.
func loadExpectation(t testing.TB, file string) expectation {
	t.Helper()
	var exp expectation
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(raw, &exp))
	return exp
}

// options are testOptions with the fixture's own.
func (exp expectation) options() model.Options {
	opts := testOptions()
	opts.WatchIngressWithoutClass = exp.Options.WatchIngressWithoutClass
	opts.DefaultBackendService = exp.Options.DefaultBackendService
	opts.DefaultSSLCertificate = exp.Options.DefaultSSLCertificate
	opts.DisableSSLRedirect = exp.Options.DisableSSLRedirect
	opts.ConfigMap = exp.Options.ConfigMap
	opts.SnippetNamespaces = exp.Options.SnippetNamespaces
	opts.AllowSharedHosts = exp.Options.AllowSharedHosts
	opts.OwnAddresses = exp.Options.OwnAddresses
	opts.AllowLoopbackBackends = exp.Options.AllowLoopbackBackends
	opts.ControllerPorts = exp.Options.ControllerPorts
	opts.Now = exp.Options.Now
	if w := exp.Options.CertificateExpiryWarning; w != "" {
		d, err := time.ParseDuration(w)
		if err != nil {
			panic(fmt.Sprintf("certificateExpiryWarning %q: %v", w, err))
		}
		opts.CertificateExpiryWarning = d
	}
	if exp.Options.Resolvers != nil {
		opts.Global.Resolvers = exp.Options.Resolvers
	}
	if exp.Options.HTTPSPort != 0 {
		opts.Global.HTTPSPort = exp.Options.HTTPSPort
	}
	return opts
}

// testOptions are model options with fixed, test-friendly paths.
func testOptions() model.Options {
	g := model.DefaultGlobal()
	g.DefaultCertificate = "/certs/default.pem"
	return model.Options{
		ControllerClass: model.DefaultControllerClass,
		IngressClass:    model.DefaultIngressClass,
		CertificateDir:  "/certs",
		Global:          g,
	}
}

func loadSnapshot(t testing.TB, file string) *snapshot.Snapshot {
	t.Helper()
	snap, err := fixture.LoadFile(file)
	require.NoError(t, err)
	return snap
}

func reversed(s *snapshot.Snapshot) *snapshot.Snapshot {
	var resolved map[string][]netip.Addr
	if s.Resolved != nil {
		resolved = map[string][]netip.Addr{}
		for name, addrs := range s.Resolved {
			resolved[name] = rev(addrs)
		}
	}
	return &snapshot.Snapshot{
		Ingresses:      rev(s.Ingresses),
		IngressClasses: rev(s.IngressClasses),
		Services:       rev(s.Services),
		EndpointSlices: rev(s.EndpointSlices),
		Secrets:        rev(s.Secrets),
		ConfigMaps:     rev(s.ConfigMaps),
		Resolved:       resolved,
	}
}

func rev[T any](in []T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}

func findServer(cfg *model.Config, host string) *model.Server {
	if host == "" {
		return &cfg.DefaultServer
	}
	for i := range cfg.Servers {
		if cfg.Servers[i].Name == host {
			return &cfg.Servers[i]
		}
	}
	return nil
}

// Route applies nginx's matching rules to the model: server by exact name,
// then regex, then the default server; location "=" first, then the longest
// prefix, and nginx's trailing-slash redirect. It returns "ns/svc:port" or
// the status code, and the endpoints.
func Route(cfg *model.Config, host, path string) (string, []string) {
	srv := &cfg.DefaultServer
	matched := false
	for i := range cfg.Servers {
		if cfg.Servers[i].ServerName == host {
			srv, matched = &cfg.Servers[i], true
			break
		}
	}
	if !matched {
		for i := range cfg.Servers {
			name := cfg.Servers[i].ServerName
			if strings.HasPrefix(name, "~") && regexp.MustCompile(name[1:]).MatchString(host) {
				srv = &cfg.Servers[i]
				break
			}
		}
	}
	// nginx redirects "/dir" to "/dir/" when a proxying location is named
	// "/dir/" and no location is exactly "/dir".
	exactHit := false
	for _, l := range srv.Locations {
		if l.Modifier == "=" && l.Path == path {
			exactHit = true
		}
	}
	for _, l := range srv.Locations {
		if !exactHit && l.Path == path+"/" && l.Action.Return == 0 {
			return "301", nil
		}
	}
	var best *model.Location
	for i := range srv.Locations {
		l := &srv.Locations[i]
		if l.Modifier == "=" && l.Path == path {
			best = l
			break
		}
		if (l.Modifier == "" || l.Modifier == "^~") && strings.HasPrefix(path, l.Path) && (best == nil || len(l.Path) > len(best.Path)) {
			best = l
		}
	}
	// "=" and "^~" (the longest prefix) end the search; otherwise regexes follow.
	if best == nil || (best.Modifier != "=" && best.Modifier != "^~") {
		// Regexes are tried in file order after prefixes; the first match wins.
		for i := range srv.Locations {
			l := &srv.Locations[i]
			// What the pattern matches is Go's to read once PCRE's match
			// limit, which only bounds the work, is off.
			pattern := matchLimit.ReplaceAllString(l.Path, "")
			switch l.Modifier {
			case "~*":
				pattern = "(?i)" + pattern
			case "~":
			default:
				continue
			}
			if regexp.MustCompile(pattern).MatchString(path) {
				best = l
				break
			}
		}
	}
	if best == nil {
		return "no location", nil
	}
	a := best.Action
	switch {
	case a.Upstream != "":
		// As the Lua balancer does: an empty pool falls back to the default
		// backend, or answers 503.
		for _, u := range cfg.Upstreams {
			if u.Name != a.Upstream {
				continue
			}
			if len(u.Endpoints) > 0 {
				return a.Service, u.Endpoints
			}
			if a.Fallback != "" {
				for _, f := range cfg.Upstreams {
					if f.Name == a.Fallback && len(f.Endpoints) > 0 {
						return fallbackService(cfg, a.Fallback), f.Endpoints
					}
				}
			}
			return "503", nil
		}
		return "missing upstream " + a.Upstream, nil
	default:
		return fmt.Sprint(a.Return), nil
	}
}

// fallbackService finds the "ns/svc:port" of an upstream from any action that uses it.
func fallbackService(cfg *model.Config, upstream string) string {
	for _, srv := range append([]model.Server{cfg.DefaultServer}, cfg.Servers...) {
		for _, l := range srv.Locations {
			if l.Action.Upstream == upstream {
				return l.Action.Service
			}
		}
	}
	ns, rest, _ := strings.Cut(upstream, ".")
	name, port, _ := strings.Cut(rest, ".")
	return ns + "/" + name + ":" + port
}

// prefixLocation finds the prefix location path of host's server, which must exist.
func prefixLocation(t *testing.T, cfg *model.Config, host, path string) (model.Location, bool) {
	t.Helper()
	srv := findServer(cfg, host)
	require.NotNil(t, srv, host)
	for _, l := range srv.Locations {
		if l.Path == path && l.Modifier == "" {
			return l, true
		}
	}
	return model.Location{}, false
}

// matchLimit is the (*LIMIT_MATCH=n) prefix of user regex locations.
var matchLimit = regexp.MustCompile(`^\(\*LIMIT_MATCH=[0-9]+\)`)
