package render_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
	"github.com/portico-ingress/portico/rootfs"
)

// cveCase is one regression fixture: testdata/cve/<file>.yaml holds the
// attack Ingress(es) carrying a published ingress-nginx injection payload in
// the field or annotation the CVE used (each file's comment names the CVE
// and where the payload comes from); testdata/cve/shared.yaml adds the
// backend and a bystander Ingress.
//
// What is expected is derived from the objects, so the table stays right
// while annotation groups are being added: an annotation key Portico
// implements must be rejected (InvalidAnnotation, the Ingress not served);
// a key it does not implement must be reported (UnknownAnnotation) and be
// inert, i.e. the config is byte-identical to the one without that key.
// Paths and hosts list the findings they must produce in want.
type cveCase struct {
	file string
	// cve names the advisory, for failure messages.
	cve string
	// want are finding reasons that must appear besides the annotation ones.
	want []string
	// gone are strings from the payload (paths, hosts, Secret names) that
	// must not appear anywhere in nginx.conf.
	gone []string
}

var cveCases = []cveCase{
	{file: "cve-2025-1974-ssl-engine-redirect", cve: "CVE-2025-1974"},
	{file: "cve-2025-1974-load-module", cve: "CVE-2025-1974"},
	{file: "cve-2025-1974-implemented-annotations", cve: "CVE-2025-1974"},
	{file: "cve-2025-24514-auth-url", cve: "CVE-2025-24514"},
	{file: "cve-2025-15566-auth-proxy-set-headers", cve: "CVE-2025-15566", want: []string{model.ReasonIneffectiveAnnotation}},
	{file: "cve-2025-1097-auth-tls-match-cn", cve: "CVE-2025-1097"},
	{file: "cve-2025-1098-mirror-uid", cve: "CVE-2025-1098"},
	{file: "cve-2025-1098-mirror-host", cve: "CVE-2025-1098"},
	{file: "cve-2025-24513-rewrite-target-traversal", cve: "CVE-2025-24513"},
	{file: "cve-2025-24513-auth-secret-traversal", cve: "CVE-2025-24513",
		want: []string{model.ReasonSecretNotFound}, gone: []string{"pwned"}},
	{file: "cve-2026-24512-path", cve: "CVE-2026-24512",
		want: []string{model.ReasonInvalidPath},
		gone: []string{"/api/ {", "return 200;", "/x(.*)", "location ~*", "/z\""}},
	{file: "cve-2026-24512-host", cve: "CVE-2026-24512",
		want: []string{model.ReasonInvalidHost},
		gone: []string{"evil.example.com", "evil2.example.com", "tls.example.com", "server_name x"}},
	{file: "cve-2026-3288-rewrite-target", cve: "CVE-2026-3288",
		want: []string{model.ReasonInvalidPath}, gone: []string{"/something", "/$2", "rewrite ^", "break;"}},
	{file: "cve-2023-5044-permanent-redirect", cve: "CVE-2023-5044"},
}

// injectedFragments are pieces of the payloads' injected directives. The
// template prints some of them only in Portico's own preamble (the Lua
// balancer's), so finding one anywhere else in nginx.conf (comments
// included) means user text got through.
var injectedFragments = []string{
	"load_module", "ssl_engine", "_by_lua", "content_by_lua", "os.execute", "io.popen", "ngx.say",
	"/tmp/", "/proc/", "serviceaccount", "foobar", "InjectTest", "../",
	"$http_authorization", "$cookie_session", "pwn", "cilium",
}

const cveDir = "testdata/cve"

func loadCVECase(t *testing.T, file string) (attack, shared *snapshot.Snapshot) {
	t.Helper()
	var err error
	shared, err = fixture.LoadFile(filepath.Join(cveDir, "shared.yaml"))
	require.NoError(t, err)
	attack, err = fixture.LoadFile(filepath.Join(cveDir, file+".yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, attack.Ingresses, "%s holds no Ingress", file)
	return attack, shared
}

// merge returns a snapshot holding the objects of both.
func merge(a, b *snapshot.Snapshot) *snapshot.Snapshot {
	return &snapshot.Snapshot{
		Ingresses:      slices.Concat(a.Ingresses, b.Ingresses),
		IngressClasses: slices.Concat(a.IngressClasses, b.IngressClasses),
		Services:       slices.Concat(a.Services, b.Services),
		EndpointSlices: slices.Concat(a.EndpointSlices, b.EndpointSlices),
		Secrets:        slices.Concat(a.Secrets, b.Secrets),
		ConfigMaps:     slices.Concat(a.ConfigMaps, b.ConfigMaps),
	}
}

// withIngresses returns snap with its Ingresses replaced.
func withIngresses(snap *snapshot.Snapshot, ings []*networkingv1.Ingress) *snapshot.Snapshot {
	out := *snap
	out.Ingresses = ings
	return &out
}

// stripAnnotations returns a copy of ing without the annotations for which
// drop returns true.
func stripAnnotations(ing *networkingv1.Ingress, drop func(key string) bool) *networkingv1.Ingress {
	c := ing.DeepCopy()
	for k := range c.Annotations {
		if drop(k) {
			delete(c.Annotations, k)
		}
	}
	return c
}

// renderShaped builds and renders snap and checks the one property every
// config must have: it parses into exactly the shape the model intended.
func renderShaped(t testing.TB, r *render.Renderer, snap *snapshot.Snapshot, opts model.Options) (*model.Config, []model.Finding, []byte, []*ngxconf.Directive) {
	t.Helper()
	cfg, findings := model.Build(snap, opts)
	conf, err := r.Render(cfg, 1)
	require.NoError(t, err)
	tree, err := ngxconf.Parse(string(conf))
	require.NoError(t, err, "rendered config does not parse:\n%s", conf)
	require.Equal(t, ExpectedShape(cfg), RenderedShape(tree), "rendered config differs from the model:\n%s", conf)
	checkNothingAfterBreak(t, tree)
	return cfg, findings, conf, tree
}

// rewriteModule are the ngx_http_rewrite_module directives: after
// `rewrite ... break;` nginx skips every one of them in the same block.
var rewriteModule = []string{"break", "if", "return", "rewrite", "set"}

// checkNothingAfterBreak fails on a rewrite-module directive that follows
// `rewrite ... break;` in the same block: nginx never runs it. A skipped
// `return` makes nginx serve the rewritten URI as a static file from its
// html directory; a skipped `set` leaves proxy_pass without its host.
func checkNothingAfterBreak(t testing.TB, tree []*ngxconf.Directive) {
	t.Helper()
	var walk func(block []*ngxconf.Directive)
	walk = func(block []*ngxconf.Directive) {
		broken := ""
		for _, d := range block {
			if broken != "" && slices.Contains(rewriteModule, d.Name) {
				t.Errorf("line %d: %s %q follows %q and never runs (break ends the rewrite module's work in this location)",
					d.Line, d.Name, d.Args, broken)
			}
			if d.Name == "rewrite" && len(d.Args) > 0 && d.Args[len(d.Args)-1] == "break" {
				broken = "rewrite " + strings.Join(d.Args, " ")
			}
			walk(d.Block)
		}
	}
	walk(tree)
}

// nginxAccepts requires the real nginx -t to accept conf.
func nginxAccepts(t testing.TB, cfg *model.Config, conf, defaultPEM []byte) {
	t.Helper()
	out, ok := nginxCheck(t, cfg, conf, defaultPEM)
	require.True(t, ok, "nginx -t rejected the config:\n%s\n%s", out, conf)
}

// nginxCheck writes conf with the certificates cfg needs into a temporary
// directory (the placeholder root swapped for it, as TestGoldenFilesPassNginx
// does) and runs the real nginx -t on it.
func nginxCheck(t testing.TB, cfg *model.Config, conf, defaultPEM []byte) (string, bool) {
	t.Helper()
	dir := checkDir(t, defaultPEM)
	for _, c := range cfg.Certificates {
		p := strings.Replace(c.Path, goldenRoot, dir, 1)
		require.True(t, strings.HasPrefix(p, dir+"/certs/"), "certificate path %q leaves the certificate directory", c.Path)
		require.NoError(t, os.WriteFile(p, c.PEM, 0o600))
	}
	require.NoError(t, rootfs.InstallLua(filepath.Join(dir, "lua")))
	text := replaceRoot(string(conf), dir)
	file := filepath.Join(dir, "nginx.conf")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o644))
	return nginxtest.Check(t, file)
}

func hasFinding(findings []model.Finding, name, reason, about string) bool {
	for _, f := range findings {
		if f.Object.Kind == "Ingress" && f.Object.Name == name && f.Reason == reason && strings.Contains(f.Message, about) {
			return true
		}
	}
	return false
}

func implementedKeys() map[string]bool {
	keys := map[string]bool{}
	for _, f := range annotations.Fields() {
		keys[annotations.DefaultPrefix+"/"+f.Key] = true
	}
	return keys
}

// TestCVEPayloadsAreRejectedOrInert replays the ingress-nginx injection
// CVEs against Portico: the payloads never reach nginx.conf, the config has
// exactly the intended directives, other Ingresses keep being served, and
// the real nginx -t accepts what is rendered.
func TestCVEPayloadsAreRejectedOrInert(t *testing.T) {
	nginxtest.Binary(t)
	defaultPEM, err := certs.SelfSigned(certs.DefaultCommonName, 24*60*60*1e9)
	require.NoError(t, err)
	r, err := render.New("")
	require.NoError(t, err)
	implemented := implementedKeys()
	prefix := annotations.DefaultPrefix + "/"
	parser := annotations.NewParser("")
	// Portico's own directives (the Lua balancer's load_module and
	// *_by_lua_file, paths under /tmp) are in every config: a fragment
	// counts as injected only where it occurs more often than there.
	ownCfg, _ := model.Build(&snapshot.Snapshot{}, goldenOptions())
	ownConf, err := r.Render(ownCfg, 1)
	require.NoError(t, err)
	own := string(ownConf)

	for _, c := range cveCases {
		t.Run(c.file, func(t *testing.T) {
			attack, shared := loadCVECase(t, c.file)
			snap := merge(attack, shared)
			opts := goldenOptions()
			cfg, findings, conf, _ := renderShaped(t, r, snap, opts)
			text := string(conf)

			for _, frag := range slices.Concat(injectedFragments, c.gone) {
				assertNotInjected(t, own, text, frag, c.cve)
			}
			served := map[string]bool{}
			for _, ref := range cfg.Ingresses {
				served[ref.Name] = true
			}
			assert.True(t, served["bystander"], "%s: the bystander Ingress must keep being served", c.cve)
			assert.True(t, slices.ContainsFunc(cfg.Servers, func(s model.Server) bool { return s.Name == "bystander.example.com" }),
				"%s: the bystander's server is missing", c.cve)

			// Per annotation: implemented keys are rejected and take the
			// whole Ingress out, as do unknown keys that ask for a security
			// control; other unknown keys are reported and change nothing.
			// clean: every attack Ingress without its annotations; kept: the
			// Ingresses without the unknown keys, the rejected ones dropped;
			// restored: the same with the rejected ones back in their clean,
			// last accepted version.
			var clean, kept, restored []*networkingv1.Ingress
			lastAccepted := map[string]*networkingv1.Ingress{}
			for _, ing := range attack.Ingresses {
				invalid := false
				for k, v := range ing.Annotations {
					if !strings.HasPrefix(k, prefix) {
						continue
					}
					if implemented[k] {
						// Payloads only; a clean companion value (limit-rps: "10") is fine.
						if strings.ContainsAny(v, ";{}\"\n$ ") || strings.Contains(v, "..") {
							assert.True(t, hasFinding(findings, ing.Name, model.ReasonInvalidAnnotation, k),
								"%s: %s on %s must be rejected; findings: %v", c.cve, k, ing.Name, findings)
							invalid = true
						}
						continue
					}
					if _, probs := parser.Parse(map[string]string{k: v}); len(probs) > 0 && probs[0].Kind == annotations.UnsupportedSecurity {
						// A security control Portico lacks: refused like an invalid value, never dropped silently.
						assert.True(t, hasFinding(findings, ing.Name, model.ReasonUnsupportedSecurityAnnotation, k),
							"%s: %s on %s must be refused as an unsupported security annotation; findings: %v", c.cve, k, ing.Name, findings)
						invalid = true
						continue
					}
					assert.True(t, hasFinding(findings, ing.Name, model.ReasonUnknownAnnotation, k),
						"%s: %s on %s must be reported as unknown; findings: %v", c.cve, k, ing.Name, findings)
					if len(strings.TrimSpace(v)) > 3 {
						assert.NotContains(t, text, strings.TrimSpace(v), "%s: the value of the unknown %s reached nginx.conf", c.cve, k)
					}
				}
				cl := stripAnnotations(ing, func(k string) bool { return strings.HasPrefix(k, prefix) })
				clean = append(clean, cl)
				lastAccepted[ing.Namespace+"/"+ing.Name] = cl
				if invalid {
					assert.False(t, served[ing.Name], "%s: %s carries an invalid annotation and must not be served", c.cve, ing.Name)
					restored = append(restored, cl)
				} else {
					known := stripAnnotations(ing, func(k string) bool { return !implemented[k] })
					kept = append(kept, known)
					restored = append(restored, known)
				}
			}

			// Inert means byte-identical: the config equals the one rendered
			// without the unknown keys and without the rejected Ingresses.
			base := merge(withIngresses(attack, kept), shared)
			_, _, baseConf, _ := renderShaped(t, r, base, opts)
			assert.Equal(t, string(baseConf), text, "%s: the payload changed nginx.conf beyond dropping the rejected Ingresses", c.cve)

			// An edit that adds the payload to an Ingress that was serving
			// keeps the last accepted version serving, unchanged.
			withLast := goldenOptions()
			withLast.LastAccepted = lastAccepted
			_, _, lastConf, _ := renderShaped(t, r, snap, withLast)
			_, _, restoredConf, _ := renderShaped(t, r, merge(withIngresses(attack, restored), shared), opts)
			assert.Equal(t, string(restoredConf), string(lastConf), "%s: with a last accepted version, the payload must change nothing", c.cve)
			_, cleanFindings, _, _ := renderShaped(t, r, merge(withIngresses(attack, clean), shared), opts)
			for _, frag := range slices.Concat(injectedFragments, c.gone) {
				assertNotInjected(t, own, string(lastConf), frag, c.cve)
			}

			// Paths, hosts and Secrets are only looked at in an Ingress that
			// is served, so their findings may come from the clean version.
			all := slices.Concat(findings, cleanFindings)
			for _, f := range findings {
				if f.Object.Kind == "Ingress" {
					t.Logf("%s: %s %s: %.90s", c.cve, f.Object.Name, f.Reason, f.Message)
				}
			}
			for _, reason := range c.want {
				assert.True(t, slices.ContainsFunc(all, func(f model.Finding) bool { return f.Reason == reason }),
					"%s: expected a %s finding, got %v", c.cve, reason, all)
			}

			for _, crt := range cfg.Certificates {
				assert.True(t, strings.HasPrefix(crt.Path, opts.CertificateDir+"/") && !strings.Contains(crt.Path, ".."),
					"%s: certificate file %q outside %s", c.cve, crt.Path, opts.CertificateDir)
			}
			nginxAccepts(t, cfg, conf, defaultPEM)
		})
	}
}

// TestCVEFixturesAreListed keeps the table and the directory in step: a
// fixture nobody runs protects nothing.
func TestCVEFixturesAreListed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(cveDir, "*.yaml"))
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		if n := strings.TrimSuffix(filepath.Base(f), ".yaml"); n != "shared" {
			names = append(names, n)
		}
	}
	var listed []string
	for _, c := range cveCases {
		listed = append(listed, c.file)
	}
	assert.ElementsMatch(t, names, listed)
	for _, c := range cveCases {
		raw, err := os.ReadFile(filepath.Join(cveDir, c.file+".yaml"))
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(raw), "# "+c.cve), "%s.yaml must start with a comment naming %s and the payload's origin", c.file, c.cve)
	}
}

// TestNoNetworkPathRunsNginxTest covers the other half of CVE-2025-1974.
// IngressNightmare needed two things: an injection (the tests above) and an
// unauthenticated network endpoint, the validating admission webhook, that
// ran `nginx -t` on a config built from the request body, so that
// ssl_engine/load_module ran attacker code while the config was only being
// tested. Portico's webhook (pkg/admission) decides with the pure model
// alone, and this test keeps it that way by reading the module's Go
// sources (tests and test-only trees excluded):
//
//   - the "-t" argument to nginx is written in exactly one place,
//     pkg/nginx/nginx.go (Driver.Test), and os/exec is used only in pkg/nginx;
//   - only pkg/admission imports the admission API or mentions AdmissionReview;
//   - the only network servers are pkg/status, whose handlers only read
//     state they are given, and pkg/admission; neither imports, even
//     indirectly, pkg/nginx, pkg/controller, pkg/render, the
//     templates or os/exec (so neither runs nginx nor renders nginx.conf);
//   - no package pkg/admission reaches writes, renames or removes a file.
//
// Sources are parsed with go/ast, so comments and formatting cannot fool the
// checks, and string literals are compared exactly.
func TestNoNetworkPathRunsNginxTest(t *testing.T) {
	root, module := moduleRoot(t)
	srcs := moduleSources(t, root)
	require.NotEmpty(t, srcs)

	var dashT, execUsers, admission, servers []string
	imports := map[string][]string{} // package dir -> imported packages
	writes := map[string][]string{}  // package dir -> file-writing calls
	for _, s := range srcs {
		pkgDir := filepath.ToSlash(filepath.Dir(s.rel))
		local := map[string]string{} // name the file uses -> import path
		for _, imp := range s.file.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			require.NoError(t, err)
			name := p[strings.LastIndex(p, "/")+1:]
			if imp.Name != nil {
				name = imp.Name.Name
			}
			local[name] = p
			imports[pkgDir] = append(imports[pkgDir], p)
			if p == "os/exec" {
				execUsers = append(execUsers, s.rel)
			}
			if strings.Contains(p, "k8s.io/api/admission") && pkgDir != "pkg/admission" {
				admission = append(admission, s.rel+" imports "+p)
			}
		}
		ast.Inspect(s.file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.BasicLit:
				if n.Kind == token.STRING {
					v, err := strconv.Unquote(n.Value)
					if err == nil && v == "-t" {
						dashT = append(dashT, s.rel)
					}
					if err == nil && strings.Contains(v, "AdmissionReview") && pkgDir != "pkg/admission" {
						admission = append(admission, s.rel+" mentions AdmissionReview")
					}
				}
			case *ast.Ident:
				if strings.Contains(n.Name, "AdmissionReview") && pkgDir != "pkg/admission" {
					admission = append(admission, s.rel+" mentions "+n.Name)
				}
			case *ast.SelectorExpr:
				if x, ok := n.X.(*ast.Ident); ok {
					switch local[x.Name] + "." + n.Sel.Name {
					case "net/http.Server", "net/http.ListenAndServe", "net/http.ListenAndServeTLS", "net/http.Serve",
						"net/http.ServeTLS", "net.Listen", "net.ListenTCP", "net.ListenUnix", "net.ListenConfig":
						servers = append(servers, s.rel)
					case "os.WriteFile", "os.Create", "os.CreateTemp", "os.OpenFile", "os.Mkdir", "os.MkdirAll", "os.MkdirTemp",
						"os.Rename", "os.Remove", "os.RemoveAll", "os.Symlink", "os.Link", "os.Chmod", "os.Chown", "os.Truncate":
						writes[pkgDir] = append(writes[pkgDir], s.rel+": "+x.Name+"."+n.Sel.Name)
					}
				}
			}
			return true
		})
	}
	dashT, servers = slices.Compact(dashT), slices.Compact(servers)
	t.Logf("scanned %d Go files: \"-t\" in %v, os/exec in %v, listeners in %v", len(srcs), dashT, execUsers, servers)
	assert.Equal(t, []string{"pkg/nginx/nginx.go"}, dashT,
		"nginx -t may only be run by pkg/nginx (Driver.Test), never from a request handler")
	for _, f := range execUsers {
		assert.True(t, strings.HasPrefix(f, "pkg/nginx/"), "%s runs programs; only pkg/nginx may", f)
	}
	assert.Empty(t, admission, "only pkg/admission may answer AdmissionReviews")
	for _, f := range servers {
		assert.True(t, strings.HasPrefix(f, "pkg/status/") || strings.HasPrefix(f, "pkg/admission/"),
			"%s opens a network listener; only pkg/status and pkg/admission may", f)
	}

	// The servers must not reach nginx, the renderer, the controller or
	// exec, even indirectly; the webhook must not write files either.
	forbidden := []string{"pkg/nginx", "pkg/controller", "pkg/render", "templates"}
	reached := func(from string) []string {
		seen := map[string]bool{}
		var visit func(dir string)
		visit = func(dir string) {
			if seen[dir] {
				return
			}
			seen[dir] = true
			for _, p := range imports[dir] {
				assert.NotEqual(t, "os/exec", p, "%s (reached from %s) imports os/exec", dir, from)
				assert.NotEqual(t, "text/template", p, "%s (reached from %s) imports text/template", dir, from)
				if rel, ok := strings.CutPrefix(p, module+"/"); ok {
					assert.NotContains(t, forbidden, rel, "%s reaches %s through %s", from, rel, dir)
					visit(rel)
				}
			}
		}
		require.NotEmpty(t, imports[from], "%s not found; update this test if the server moved", from)
		visit(from)
		return slices.Sorted(maps.Keys(seen))
	}
	reached("pkg/status")
	fromAdmission := reached("pkg/admission")
	t.Logf("pkg/admission reaches %v", fromAdmission)
	for _, dir := range fromAdmission {
		assert.Empty(t, writes[dir], "%s, reached from pkg/admission, writes files", dir)
	}

	// Excluding the test-only trees is sound only while product code never
	// imports them.
	for dir, imps := range imports {
		for _, p := range imps {
			assert.False(t, strings.HasPrefix(p, module+"/pkg/testutil") || strings.HasPrefix(p, module+"/e2e"),
				"%s imports test-only package %s", dir, p)
		}
	}
}

type goSource struct {
	rel  string
	file *ast.File
}

// moduleRoot finds go.mod above the working directory and returns its
// directory and module path.
func moduleRoot(t *testing.T) (string, string) {
	t.Helper()
	dir, err := filepath.Abs(".")
	require.NoError(t, err)
	for {
		raw, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, line := range strings.Split(string(raw), "\n") {
				if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
					return dir, strings.TrimSpace(m)
				}
			}
			t.Fatalf("%s/go.mod names no module", dir)
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, parent, dir, "go.mod not found")
		dir = parent
	}
}

// moduleSources parses every non-test Go file of the product: _test.go
// files, testdata, hidden directories, nested modules and the test-only
// trees (e2e/, pkg/testutil/: harnesses and helpers that are never linked
// into the portico binary, which the last check of the caller enforces) are
// left out.
func moduleSources(t *testing.T, root string) []goSource {
	t.Helper()
	var out []goSource
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor" ||
				rel == "e2e" || rel == "pkg/testutil" || rel == "hack") { // hack/: developer tools, not in the binary
				return filepath.SkipDir
			}
			if rel != "." {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
					return filepath.SkipDir // another module
				}
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		out = append(out, goSource{rel: rel, file: f})
		return nil
	})
	require.NoError(t, err)
	return out
}

// assertNotInjected fails when frag occurs in conf more often than in own,
// the config Portico writes for no Ingress at all.
func assertNotInjected(t *testing.T, own, conf, frag, cve string) {
	t.Helper()
	assert.LessOrEqual(t, strings.Count(conf, frag), strings.Count(own, frag),
		"%s: payload fragment %q reached nginx.conf", cve, frag)
}
