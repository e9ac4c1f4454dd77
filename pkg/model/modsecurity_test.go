package model_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// TestModSecurityWithoutModule: when nginx has no ModSecurity module, an
// Ingress asking for it is not served with the WAF gone: its paths answer
// 503 with the finding ModSecurityUnavailable, no load_module is rendered
// (it would fail nginx -t for everyone), and the other Ingresses are
// served as before.
func TestModSecurityWithoutModule(t *testing.T) {
	snap := loadSnapshot(t, "testdata/annotations-modsecurity.yaml")
	cases := []struct {
		name   string
		module string
		want   int // Return of waf.example.com's location (0: proxied)
		load   bool
	}{
		{"module present", model.DebianModSecurityModule, 0, true},
		{"module missing", "", 503, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions()
			opts.SnippetNamespaces = []string{"trusted"}
			opts.Global.ModSecurityModule = c.module
			cfg, findings := model.Build(snap, opts)
			waf := findServer(cfg, "waf.example.com")
			require.NotNil(t, waf)
			assert.Equal(t, c.want, waf.Locations[0].Action.Return)
			assert.Equal(t, c.want == 0, waf.Locations[0].ModSecurity != nil)
			assert.Equal(t, c.load, cfg.LoadModSecurity != "")
			var unavailable []string
			for _, f := range findings {
				if f.Reason == model.ReasonModSecurityUnavailable {
					assert.Equal(t, model.NotServed, f.Severity)
					unavailable = append(unavailable, f.Object.Namespace+"/"+f.Object.Name)
				}
			}
			if c.module == "" {
				assert.ElementsMatch(t, []string{"trusted/waf", "default/base", "default/disabled"}, unavailable)
			} else {
				assert.Empty(t, unavailable)
			}
		})
	}
}

// modSecurityFixture loads configmap-modsecurity.yaml with the ConfigMap's
// data replaced by data (nil keeps the fixture's).
func modSecurityFixture(t *testing.T, data map[string]string) *snapshot.Snapshot {
	t.Helper()
	snap := loadSnapshot(t, "testdata/configmap-modsecurity.yaml")
	require.Len(t, snap.ConfigMaps, 1)
	if data != nil {
		cm := snap.ConfigMaps[0].DeepCopy()
		cm.Data = data
		snap.ConfigMaps[0] = cm
	}
	return snap
}

// TestModSecurityConfigMapLocations: with the ConfigMap's enable-modsecurity
// the rules are loaded once at http level and each covered location only
// switches them on with its own additions; an Ingress whose
// enable-modsecurity is "false" runs without them (ingress-nginx's
// "modsecurity off"), and one tenant's snippet stays on its own location.
func TestModSecurityConfigMapLocations(t *testing.T) {
	opts := testOptions()
	opts.ConfigMap = "ops/portico"
	opts.SnippetNamespaces = []string{"trusted"}
	cfg, _ := model.Build(modSecurityFixture(t, nil), opts)
	require.NotNil(t, cfg.Global.ModSecurityHTTP)
	assert.Equal(t, model.DebianModSecurityModule, cfg.LoadModSecurity)
	cases := []struct {
		host string
		want *model.LocationModSecurity
	}{
		{"shop.example.com", &model.LocationModSecurity{CoreRules: true}},
		{"legacy.example.com", nil},
		{"tuned.example.com", &model.LocationModSecurity{Snippet: "SecRuleEngine DetectionOnly",
			Rules: []string{"SecRuleRemoveById 942100"}, TransactionID: "$request_id", CoreRules: true}},
		{"tenant.example.com", nil}, // 503: its snippet is not allowed there
	}
	for _, c := range cases {
		t.Run(c.host, func(t *testing.T) {
			srv := findServer(cfg, c.host)
			require.NotNil(t, srv)
			require.Len(t, srv.Locations, 1)
			assert.Equal(t, c.want, srv.Locations[0].ModSecurity)
		})
	}
}

// TestModSecurityConfigMapFailsClosed: when the ConfigMap asks for
// ModSecurity for every Ingress and that cannot be honoured (no module or
// rules on the host, a bad value with no accepted one to keep), the paths it
// covers answer 503 (ModSecurityUnavailable) instead of going unchecked or
// running rules other than the operator's; an Ingress that opted out is
// served, and a bad value with an accepted one keeps that.
func TestModSecurityConfigMapFailsClosed(t *testing.T) {
	good := map[string]string{"enable-modsecurity": "true", "enable-owasp-modsecurity-crs": "true", "modsecurity-snippet": "SecRuleEngine On"}
	with := func(k, v string) map[string]string {
		d := maps.Clone(good)
		d[k] = v
		return d
	}
	cases := []struct {
		name string
		data map[string]string
		last map[string]string // data of the live ConfigMap, nil for none
		host func(g *model.Global)
		// refused: nginx -t refused this version of the ConfigMap (no other to keep)
		refused bool
		closed  bool   // shop and tuned answer 503
		engine  string // the http-level settings, when served
	}{
		{name: "as written", data: good, engine: "SecRuleEngine On"},
		{name: "no module", data: good, host: func(g *model.Global) { g.ModSecurityModule = "" }, closed: true},
		{name: "no base rules", data: good, host: func(g *model.Global) { g.ModSecurityConf = "" }, closed: true},
		{name: "no Core Rule Set", data: good, host: func(g *model.Global) { g.OWASPCRSRules = "" }, closed: true},
		{name: "no Core Rule Set, not asked for", data: with("enable-owasp-modsecurity-crs", "false"),
			host: func(g *model.Global) { g.OWASPCRSSetup = "" }, engine: "SecRuleEngine On"},
		{name: "snippet with a file, none accepted", data: with("modsecurity-snippet", "SecRuleEngine On\nInclude /etc/shadow"), closed: true},
		{name: "snippet with a file, last accepted kept", data: with("modsecurity-snippet", "Include /etc/shadow"),
			last: with("modsecurity-snippet", "SecRuleEngine DetectionOnly"), engine: "SecRuleEngine DetectionOnly"},
		{name: "misspelt switch, none accepted", data: with("enable-modsecurity", "ture"), closed: true},
		{name: "misspelt switch, last accepted kept", data: with("enable-modsecurity", "ture"), last: good, engine: "SecRuleEngine On"},
		{name: "bad Core Rule Set switch, none accepted", data: with("enable-owasp-modsecurity-crs", "yes"), closed: true},
		{name: "switch off, bad snippet", data: map[string]string{"enable-modsecurity": "false", "modsecurity-snippet": "SecAuditLog /tmp/x"}},
		{name: "nginx -t refused the ConfigMap", data: good, refused: true, closed: true},
		{name: "nginx -t refused a ConfigMap with the switch off", data: map[string]string{"enable-modsecurity": "false"}, refused: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := modSecurityFixture(t, c.data)
			opts := testOptions()
			opts.ConfigMap = "ops/portico"
			opts.SnippetNamespaces = []string{"trusted"}
			if c.host != nil {
				c.host(&opts.Global)
			}
			if c.last != nil {
				last := snap.ConfigMaps[0].DeepCopy()
				last.Data = c.last
				opts.LastConfigMap, opts.LastConfigMapValues = last, c.last
			}
			if c.refused {
				opts.ExcludedConfigMap = &model.ConfigMapExclusion{ConfigMap: snap.ConfigMaps[0], Message: "unknown directive"}
			}
			cfg, findings := model.Build(snap, opts)
			unavailable := findingsOf(findings, model.ReasonModSecurityUnavailable)
			for _, host := range []string{"shop.example.com", "tuned.example.com"} {
				srv := findServer(cfg, host)
				require.NotNil(t, srv)
				l := srv.Locations[0]
				if c.closed {
					assert.Equal(t, 503, l.Action.Return, host)
					assert.Nil(t, l.ModSecurity, host)
				} else {
					assert.Zero(t, l.Action.Return, host)
					assert.Equal(t, c.engine != "", l.ModSecurity != nil, host)
				}
			}
			legacy := findServer(cfg, "legacy.example.com")
			require.NotNil(t, legacy)
			assert.Zero(t, legacy.Locations[0].Action.Return, "the Ingress that opted out is served")
			if c.closed {
				assert.Nil(t, cfg.Global.ModSecurityHTTP)
				assert.Empty(t, cfg.LoadModSecurity, "no load_module or rules file nginx -t would refuse for everyone")
				assert.ElementsMatch(t, []string{"portico", "shop", "tenant", "tuned"}, names(unavailable))
				return
			}
			assert.Empty(t, unavailable)
			if c.engine == "" {
				assert.Nil(t, cfg.Global.ModSecurityHTTP)
				return
			}
			require.NotNil(t, cfg.Global.ModSecurityHTTP)
			assert.Equal(t, c.engine, cfg.Global.ModSecurityHTTP.Snippet)
		})
	}
}

// names are the object names of findingsOf's "name: message" lines.
func names(lines []string) []string {
	var out []string
	for _, l := range lines {
		name, _, _ := strings.Cut(l, ":")
		out = append(out, name)
	}
	return out
}

// TestModSecurityConfigMapIngressNginxSnippet: the ConfigMap snippet of
// ingress-nginx's docs (Include its Core Rule Set file, SecRuleEngine On)
// loads Debian's Core Rule Set at http level and keeps the settings; it
// names no file of its own choosing.
func TestModSecurityConfigMapIngressNginxSnippet(t *testing.T) {
	snap := modSecurityFixture(t, map[string]string{
		"enable-modsecurity":  "true",
		"modsecurity-snippet": "Include /etc/nginx/owasp-modsecurity-crs/nginx-modsecurity.conf\nSecRuleEngine On\nSecRequestBodyAccess On",
	})
	opts := testOptions()
	opts.ConfigMap = "ops/portico"
	cfg, findings := model.Build(snap, opts)
	assert.Empty(t, findingsOf(findings, model.ReasonInvalidOption))
	require.NotNil(t, cfg.Global.ModSecurityHTTP)
	assert.Equal(t, &model.LocationModSecurity{
		Snippet:    "SecRuleEngine On\nSecRequestBodyAccess On",
		RulesFiles: []string{model.DebianModSecurityConf, model.DebianOWASPCRSSetup},
		Rules:      []string{"SecAuditEngine Off", "Include " + model.DebianOWASPCRSRules},
		CoreRules:  true,
	}, cfg.Global.ModSecurityHTTP)
}

// TestModSecurityRulesShared: with the annotations, the rules files are
// read once at http level (Config.ModSecurityRules), the Core Rule Set
// only while some served location asks for it; a location reads no file,
// and one that did not ask for the Core Rule Set removes its ids.
func TestModSecurityRulesShared(t *testing.T) {
	base := model.LocationModSecurity{
		RulesFiles: []string{model.DebianModSecurityConf},
		Rules:      []string{"SecAuditEngine Off"},
	}
	crs := model.LocationModSecurity{
		RulesFiles: []string{model.DebianModSecurityConf, model.DebianOWASPCRSSetup},
		Rules:      []string{"SecAuditEngine Off", "Include " + model.DebianOWASPCRSRules},
		CoreRules:  true,
	}
	cases := []struct {
		name      string
		drop      string // an Ingress taken out of the fixture
		http      model.LocationModSecurity
		locations map[string]*model.LocationModSecurity
	}{
		{"base and CRS", "", crs, map[string]*model.LocationModSecurity{
			"waf.example.com": {Snippet: "SecRuleEngine On", Rules: []string{"SecRuleRemoveById 920350 941100-941199"},
				TransactionID: "$request_id", CoreRules: true},
			"base.example.com": {Rules: []string{model.ModSecurityWithoutCRS}, TransactionID: "shop-1"},
		}},
		{"base only", "waf", base, map[string]*model.LocationModSecurity{
			"base.example.com": {Rules: []string{model.ModSecurityWithoutCRS}, TransactionID: "shop-1"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			snap := loadSnapshot(t, "testdata/annotations-modsecurity.yaml")
			if c.drop != "" {
				snap.Ingresses = slices.DeleteFunc(snap.Ingresses, func(i *networkingv1.Ingress) bool { return i.Name == c.drop })
			}
			opts := testOptions()
			opts.SnippetNamespaces = []string{"trusted"}
			cfg, _ := model.Build(snap, opts)
			require.NotNil(t, cfg.ModSecurityRules)
			assert.Equal(t, c.http, *cfg.ModSecurityRules)
			assert.Nil(t, cfg.Global.ModSecurityHTTP, "the ConfigMap's switch is off")
			for host, want := range c.locations {
				srv := findServer(cfg, host)
				require.NotNil(t, srv, host)
				assert.Equal(t, want, srv.Locations[0].ModSecurity, host)
			}
		})
	}
}
