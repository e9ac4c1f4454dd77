package render_test

import (
	"crypto/sha256"
	"hash/fnv"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/pkg/ngxvar"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
	"github.com/portico-ingress/portico/templates"
)

// cveAnnotationKeys are ingress-nginx annotations the injection CVEs went
// through (auth-url: CVE-2025-24514; auth-tls-match-cn: CVE-2025-1097;
// mirror-*: CVE-2025-1098; auth-secret: CVE-2025-24513; rewrite-target:
// CVE-2026-3288; auth-proxy-set-headers: CVE-2025-15566) plus the snippet
// keys. Those Portico does not implement are fuzzed too: they must be inert.
var cveAnnotationKeys = []string{
	"auth-url", "auth-method", "auth-signin", "auth-proxy-set-headers", "auth-snippet",
	"auth-tls-match-cn", "auth-tls-secret", "auth-tls-verify-client",
	"mirror-target", "mirror-host", "mirror-request-body",
	"auth-type", "auth-secret", "auth-realm",
	"rewrite-target", "use-regex", "x-forwarded-prefix",
	"configuration-snippet", "server-snippet", "stream-snippet",
}

// unsupportedSecurityKeys are ingress-nginx annotations Portico does not
// implement that ask for a security control: they must make the Ingress not
// served (UnsupportedSecurityAnnotation), never be silently dropped.
var unsupportedSecurityKeys = []string{
	"enable-modsecurity", "enable-owasp-core-rules", "modsecurity-transaction-id", "modsecurity-snippet",
	"satisfy", "auth-keepalive-connections", "limit-rate", "proxy-ssl-verify-depth",
}

// fuzzKeys lists every implemented annotation (annotations.Fields()) and
// then the CVE and security keys Portico does not implement, without duplicates.
func fuzzKeys() []string {
	var keys []string
	for _, f := range annotations.Fields() {
		keys = append(keys, f.Key)
	}
	for _, k := range slices.Concat(cveAnnotationKeys, unsupportedSecurityKeys) {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// resolveKey maps the fuzzer's key string to an annotation: itself when it
// names one, otherwise one chosen by its hash. Seeds name their key, so they
// keep testing the same annotation when annotations are added (an index into
// Fields() would silently shift), and every mutation still lands on a real key.
func resolveKey(keys []string, k string) string {
	if slices.Contains(keys, k) {
		return k
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(k)) // hash.Hash never fails
	return keys[h.Sum32()%uint32(len(keys))]
}

// annotationSnapshot holds a bystander Ingress and the Ingress under test,
// "fuzz", which carries anns and routes host+path to a Service, /ext to an
// ExternalName Service (so backend-protocol meets both kinds of proxy_pass),
// has a default backend (app-root, fallbacks) and lists host under TLS with
// a Secret that does not exist (ssl-redirect applies; the default
// certificate is used, so nginx -t needs no other file). The Secret
// "htpasswd" serves auth-secret.
func annotationSnapshot(anns map[string]string, path, host string) *snapshot.Snapshot {
	class := "portico"
	prefix := networkingv1.PathTypePrefix
	exact := networkingv1.PathTypeExact
	web := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}}
	ext := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: "ext", Port: networkingv1.ServiceBackendPort{Number: 443}}}
	rule := func(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
	}
	bystander := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "bystander", UID: "bystander-uid"},
		Spec: networkingv1.IngressSpec{IngressClassName: &class, Rules: []networkingv1.IngressRule{
			rule("bystander.example.com", networkingv1.HTTPIngressPath{Path: "/", PathType: &prefix, Backend: web})}},
	}
	fuzz := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "fuzz", UID: "fuzz-uid", Annotations: maps.Clone(anns)},
		Spec: networkingv1.IngressSpec{
			IngressClassName: &class,
			DefaultBackend:   &web,
			TLS:              []networkingv1.IngressTLS{{Hosts: []string{host}, SecretName: "missing"}},
			Rules: []networkingv1.IngressRule{rule(host,
				networkingv1.HTTPIngressPath{Path: path, PathType: &prefix, Backend: web},
				networkingv1.HTTPIngressPath{Path: "/ext", PathType: &exact, Backend: ext},
			)},
		},
	}
	port := int32(8080)
	return &snapshot.Snapshot{
		Ingresses: []*networkingv1.Ingress{bystander, fuzz},
		Services: []*corev1.Service{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
				Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "ext"},
				Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "ext.example.com",
					Ports: []corev1.ServicePort{{Port: 443}}}},
		},
		Secrets: []*corev1.Secret{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "htpasswd"},
			Data: map[string][]byte{"auth": []byte("user:$apr1$Xz4bLq1F$8Q9uZ1kq0o8mI6q0y1u3H/\n"),
				"user": []byte("$apr1$Xz4bLq1F$8Q9uZ1kq0o8mI6q0y1u3H/")},
		}},
		EndpointSlices: []*discoveryv1.EndpointSlice{{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Port: &port}},
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"198.18.0.10"}}},
		}},
	}
}

// Payloads in the style of the ingress-nginx injection CVEs, tried on every
// annotation key (FuzzRenderAnnotations adds them as seeds). The seed files
// in testdata/fuzz/FuzzRenderAnnotations carry the same payloads per key,
// with where each comes from.
var annotationPayloads = []string{
	// CVE-2025-24514 / CVE-2025-1974, auth-url, verbatim from the public PoC
	// github.com/Esonhugh/nginxnightmare (after Wiz Research).
	"http://example.com/#;}}}\n\nssl_engine foobar;\n\n",
	// CVE-2025-1097, auth-tls-match-cn, same source.
	"CN=abc #(\n){}\n }}\nssl_engine foobar;\n#",
	// CVE-2025-1098, the mirror UID, from Wiz Research's write-up.
	"InjectTest#;\n\n}\n}\n}\nssl_engine foobar",
	// CVE-2025-1974's library load, as the exploit reaches it.
	"1;\nssl_engine ../../../../../../proc/23/fd/12;\n#",
	"on\" ; load_module /tmp/client-body/0000000001; #",
	"10.0.0.0/8;}\nload_module /tmp/client-body/0000000001;#",
	"true\n}\n}\nssl_engine foobar;",
	// CVE-2026-3288 (rewrite-target), adapted from the ingress-nginx rewrite example.
	"/$2 break;\n}\nlocation /pwn {\ncontent_by_lua_block { os.execute(\"id\") }\n}\nlocation /z {\nrewrite ^ /",
	// CVE-2023-5044 (permanent-redirect), adapted.
	"https://example.com;\n}\nlocation ~* \"^/pwn\" {\ncontent_by_lua_block {\nngx.say(io.popen(\"id\"):read(\"*a\"))\n}\n}\nlocation /x {\nreturn 301 https://example.com",
	// No breakout, only variables: a redirect that leaks credentials.
	"https://collector.example.net/?a=$http_authorization&c=$cookie_session",
	"/app/${host}",
	// nginx variables where they may not stand (issue 13): a client-chosen
	// auth host, a sign-in host from the Host header, CR/LF, variables off
	// the allowlist.
	"http://$http_x_target/verify",
	"http://auth${arg_x}.example.com/",
	"https://$http_host/oauth2/start",
	"https://$host/start\r\nSet-Cookie: a=b",
	"https://$host/${document_root}$1",
}

// validAnnotationValues are accepted values at the edges of what each key
// allows, so that plain `go test` also proves nginx -t takes the largest
// values Portico lets through. Keys without an entry still get the payloads.
var validAnnotationValues = map[string][]string{
	"client-body-buffer-size":     {"0", "8k", "1m", "1g"},
	"proxy-body-size":             {"0", "999999999g"},
	"proxy-buffer-size":           {"4k", "8k", "16k", "1g"},
	"proxy-buffering":             {"on", "OFF", "true"},
	"proxy-connect-timeout":       {"0", "999999"},
	"proxy-read-timeout":          {"999999", "1800s", "1h30m", "500ms", "60sec"},
	"proxy-send-timeout":          {"1"},
	"enable-global-auth":          {"false", "TRUE", "0"},
	"proxy-http-version":          {"1.0", "1.1"},
	"proxy-next-upstream":         {"error timeout invalid_header http_500 http_502 http_503 http_504 http_403 http_404 http_429 non_idempotent", "off", "error error"},
	"proxy-next-upstream-timeout": {"0", "999999"},
	"proxy-next-upstream-tries":   {"0", "100"},
	"proxy-request-buffering":     {"off"},
	"whitelist-source-range":      {"10.0.0.0/8, 192.0.2.1,2001:db8::/32", "10.1.2.3/8"},
	"denylist-source-range":       {"0.0.0.0/0", "::/0"},
	"allowlist-source-range":      {"10.0.0.0/8, 192.0.2.1", "2001:db8::/32"},
	"blacklist-source-range":      {"192.0.2.0/24"},
	"limit-allowlist":             {"10.0.0.0/8, 2001:db8::1"},
	"limit-rps":                   {"1", "100000"},
	"limit-rpm":                   {"6000000"},
	"limit-connections":           {"65535"},
	"limit-burst-multiplier":      {"1000"},
	"limit-whitelist":             {"10.0.0.0/8, 2001:db8::1"},
	"app-root":                    {"/app", "/a-b_c.d~e/%41!&'()*+,=:@"},
	"backend-protocol":            {"HTTPS", "grpc", "GRPCS"},
	"force-ssl-redirect":          {"true"},
	"ssl-redirect":                {"false"},
	"permanent-redirect":          {"https://new.example.com/landing?x=1&y='2'#frag", "https://new.example.com$request_uri"},
	"permanent-redirect-code":     {"308"},
	"temporal-redirect":           {"http://[2001:db8::1]:8080/a(b)", "$scheme://$host:8443/x?u=$request_uri&a=$args&q=$arg_q&p=$server_port&r=$remote_addr&h=${HTTP_X_Foo}"},
	"auth-type":                   {"basic"},
	"auth-secret":                 {"htpasswd", "default/htpasswd"},
	"auth-secret-type":            {"auth-file", "auth-map"},
	"auth-realm":                  {"Staff only: (a) #1 & more/", "x;y"},
	"enable-cors":                 {"true"},
	"cors-allow-origin":           {"*", "https://app.example.com:8443, http://b.example.com"},
	"cors-allow-methods":          {"GET, PUT,POST"},
	"cors-allow-headers":          {"*", "X-A,X-B"},
	"cors-expose-headers":         {"X-Request-ID"},
	"cors-allow-credentials":      {"false"},
	"cors-max-age":                {"86400"},
	"enable-access-log":           {"false"},
	"server-alias":                {"alias.example.com, www.alias.example.com"},
	"upstream-vhost":              {"backend.internal:8080", "$host", "${arg_tenant}.backend.internal:8080"},
	"x-forwarded-prefix":          {"/api", "/$http_x_prefix/${request_uri}", "/${uri}"},
	"use-regex":                   {"true"},
	"service-upstream":            {"true", "false"},
	"rewrite-target":              {"/$1", "/new/$2?x=$1", "/", "https://other.example.com/$1", "http://other.example.com:8080/moved/$2?from=$1"},
	"enable-modsecurity":          {"true", "false"},
	"enable-owasp-core-rules":     {"true"},
	"modsecurity-transaction-id":  {"$request_id", "$req_id", "shop-1.a_b"},
	"auth-signin-redirect-param":  {"redirect_to", "a.b~c-d_e"},
	"auth-cache-key":              {"$cookie__oauth2_proxy", "user:${http_authorization}|$host,v1;x=@/+~"},
	"auth-cache-duration":         {"200 202 401 5m", "200 202 10m, 401 1m, any 9999999y", "500ms"},
	"auth-proxy-set-headers":      {"auth-headers", "default/auth-headers"},
	"auth-request-redirect":       {"https://$host$request_uri", "/welcome?from=$uri&q=$arg_q", "$request_uri"},
	"auth-always-set-cookie":      {"true", "false"},
	"auth-keepalive":              {"0", "1024"},
	"auth-keepalive-requests":     {"1", "1000000"},
	"auth-keepalive-timeout":      {"1", "86400"},
	"auth-keepalive-share-vars":   {"true"},
	"modsecurity-snippet":         {"SecRuleEngine On", "SecRuleEngine DetectionOnly\nSecRuleRemoveById 920350 941100-941199\nSecRuleRemoveByTag attack-xss", "# c\nSecRequestBodyAccess Off\nSecResponseBodyAccess On"},
}

// knownNginxRejects are inputs Portico accepts and nginx -t refuses: each is
// a product bug, since nginx -t fails for the whole config and one Ingress
// would then stop every later reload. While such a bug stands, its exact
// nginx error turns the failure into a skip that says so; delete the entry
// once the validator or the template is fixed. The buffer-size and
// RE2-versus-PCRE cases found by this test are fixed, so it is empty.
var knownNginxRejects = map[string]*regexp.Regexp{}

// nginxVariable finds variable references ($name, ${name}, $1) in a token.
var nginxVariable = regexp.MustCompile(`\$\{?([A-Za-z0-9_]+)`)

// generatedVariable matches the variables the model names from a hash.
var generatedVariable = regexp.MustCompile(`^portico_(exempt|limit)_[0-9a-f]+$`)

// regexCapture matches $1..$9: captures of the location's or the rewrite's
// own regex (rewrite-target allows them), never a request variable.
var regexCapture = regexp.MustCompile(`^[1-9]$`)

// captureRef finds $1..$9 in an annotation value.
var captureRef = regexp.MustCompile(`\$[1-9]`)

// templateVariables are the nginx variables the template itself writes. A
// variable that is neither one of these nor generated came from user input.
var templateVariables = sync.OnceValue(func() map[string]bool {
	vars := map[string]bool{}
	for _, m := range nginxVariable.FindAllStringSubmatch(templates.NginxTemplate, -1) {
		vars[m[1]] = true
	}
	return vars
})

// checkVariables fails on any nginx variable the template did not write.
// "$" inside a quoted token is still expanded by return, proxy_pass, set,
// add_header...; quoting does not neutralise it, validators must.
func checkVariables(t testing.TB, tree []*ngxconf.Directive) {
	t.Helper()
	ngxconf.Walk(tree, func(_ []string, d *ngxconf.Directive) {
		if d.Name == "log_format" {
			return // the operator's format, from flags and the ConfigMap
		}
		for _, tok := range append([]string{d.Name}, d.Args...) {
			for _, m := range nginxVariable.FindAllStringSubmatch(tok, -1) {
				if userURLVariable(d, m[1]) {
					continue
				}
				if !templateVariables()[m[1]] && !generatedVariable.MatchString(m[1]) && !regexCapture.MatchString(m[1]) {
					t.Fatalf("variable $%s in %s %q came from user input", m[1], d.Name, d.Args)
				}
			}
		}
	})
}

// userURLVariable reports a variable a URL annotation may name (ngxvar's
// allowlist) where such URLs are printed: the auth target, a redirect's
// return and the sign-in error_page. Redirects never carry credentials.
func userURLVariable(d *ngxconf.Directive, name string) bool {
	if !ngxvar.Allowed(name) {
		return false
	}
	switch {
	case d.Name == "set" && len(d.Args) == 2 && d.Args[0] == "$portico_auth_target":
		return true
	case d.Name == "proxy_cache_key":
		return true // auth-cache-key: only a cache key, after the Ingress's hash
	case d.Name == "proxy_set_header" && len(d.Args) == 2 && d.Args[0] == "X-Auth-Request-Redirect":
		return !ngxvar.Credential(name) // auth-request-redirect: a URL the auth service redirects to
	case d.Name == "proxy_set_header" && len(d.Args) == 2 && (d.Args[0] == "Host" || d.Args[0] == "X-Forwarded-Prefix"):
		return true // upstream-vhost, x-forwarded-prefix: to the Ingress's own backend
	case d.Name == "return" || d.Name == "error_page":
		return !ngxvar.Credential(name)
	}
	return false
}

// argCounts counts every argument in the tree.
func argCounts(tree []*ngxconf.Directive) map[string]int {
	n := map[string]int{}
	ngxconf.Walk(tree, func(_ []string, d *ngxconf.Directive) {
		for _, a := range d.Args {
			n[a]++
		}
	})
	return n
}

// checkValueQuoted checks an accepted annotation value against the config
// rendered without it: a value holding nginx syntax (; { } " \ newline) may
// only appear inside a token written by ngxconf.Quote, and a value holding
// "$" may not appear at all.
func checkValueQuoted(t testing.TB, key, value string, conf []byte, tree []*ngxconf.Directive, base []byte, baseTree []*ngxconf.Directive) {
	t.Helper()
	v := strings.TrimSpace(value) // the parser trims values
	if len(v) < 2 || !strings.ContainsAny(v, ";{}\"\\\n\r\t$") {
		return
	}
	if strings.HasSuffix(key, "/modsecurity-transaction-id") && slices.Contains(annotations.ModSecurityTransactionVariables, v) {
		return // the whole value is one of the allowlisted per-request variables
	}
	// $1..$9 are regex captures (rewrite-target); any other "$" is a variable.
	variable := strings.Contains(captureRef.ReplaceAllString(v, ""), "$")
	if parsed, err := ngxvar.Parse(v); err == nil && parsed.String() == v {
		// Already in ngxvar's rendering: its variables are allowlisted,
		// and checkVariables checks where they stand.
		variable = false
	}
	text, baseText := string(conf), string(base)
	if (variable || strings.ContainsAny(v, "\"\\\n\r\t")) && strings.Contains(text, v) && !strings.Contains(baseText, v) {
		t.Fatalf("%s: value %q appears verbatim in nginx.conf (Quote escapes quotes, \\ and control characters; \"$\" is expanded even when quoted):\n%s", key, v, conf)
	}
	baseArgs := argCounts(baseTree)
	for a, n := range argCounts(tree) {
		if n <= baseArgs[a] || !strings.Contains(a, v) {
			continue
		}
		if variable {
			t.Fatalf("%s: value %q with \"$\" reached the argument %q; nginx expands it", key, v, a)
		}
		if !strings.Contains(text, ngxconf.Quote(a)) {
			t.Fatalf("%s: value %q reached the argument %q without ngxconf.Quote:\n%s", key, v, a, conf)
		}
	}
}

// FuzzRenderAnnotations puts arbitrary values into every annotation
// (annotations.Fields(), plus the unimplemented keys the CVEs used), two at a
// time, with a fuzzed path and host, and checks:
//
//   - the config parses into exactly the shape the model intended
//     (ExpectedShape == RenderedShape: no injected directive or block), and
//     every nginx variable in it is one the template writes;
//   - the bystander Ingress is always served;
//   - a key Portico does not implement is inert: the config is byte-identical
//     without it;
//   - an implemented value that holds nginx syntax is only ever inside a
//     token written by ngxconf.Quote, and one holding "$" nowhere;
//   - an Ingress with a rejected value is not served (the config equals the
//     one without it), or, with a last accepted version, serves that
//     version unchanged.
//
// Without -fuzz (or with PORTICO_FUZZ_NGINX=1), every config also goes
// through the real nginx -t.
func FuzzRenderAnnotations(f *testing.F) {
	keys := fuzzKeys()
	for _, k := range keys {
		for _, p := range annotationPayloads {
			f.Add(k, p, "proxy-read-timeout", "30", "/app", "app.example.com")
		}
		for _, v := range validAnnotationValues[k] {
			f.Add(k, v, "limit-rps", "5", "/app", "app.example.com")
		}
	}
	// The pairs that interact: a redirect with its code, limits with their
	// exemptions, app-root with a redirect, TLS redirects.
	f.Add("permanent-redirect", "https://example.com/x", "permanent-redirect-code", "308", "/", "r.example.com")
	f.Add("limit-whitelist", "10.0.0.0/8", "limit-rpm", "600", "/a", "l.example.com")
	f.Add("limit-connections", "3", "limit-burst-multiplier", "2", "/a", "*.example.com")
	f.Add("app-root", "/start", "temporal-redirect", "https://example.com/", "/", "a.example.com")
	f.Add("force-ssl-redirect", "true", "ssl-redirect", "false", "/a/", "")
	f.Add("auth-type", "basic", "auth-secret", "htpasswd", "/private", "b.example.com")
	f.Add("auth-url", "http://auth.example.com:4180/oauth2/auth?u=$request_uri&s=$cookie_s", "auth-signin", "https://$host/oauth2/start?rd=$escaped_request_uri", "/", "o.example.com")
	// External auth as oauth2-proxy setups write it (issue 13): keepalive
	// to an IP address, a cached answer, the sign-in parameter renamed.
	f.Add("auth-url", "http://198.18.0.20:4180/oauth2/auth", "auth-keepalive", "16", "/", "o.example.com")
	f.Add("auth-url", "http://[2001:db8::7]:4180/oauth2/auth?u=$request_uri", "auth-cache-key", "$cookie__oauth2_proxy", "/", "o.example.com")
	f.Add("auth-url", "http://auth.example.com/check", "auth-keepalive", "4", "/", "o.example.com")
	f.Add("auth-signin", "https://$host/oauth2/start", "auth-signin-redirect-param", "redirect_to", "/", "o.example.com")
	f.Add("auth-url", "http://198.18.0.20/verify", "auth-request-redirect", "https://$host$request_uri", "/", "o.example.com")
	f.Add("auth-url", "http://198.18.0.20/verify", "auth-always-set-cookie", "true", "/", "o.example.com")
	f.Add("auth-url", "http://198.18.0.20/verify", "auth-proxy-set-headers", "auth-headers", "/", "o.example.com")
	f.Add("auth-cache-key", "$http_authorization", "auth-cache-duration", "200 202 10m, 401 1m", "/", "o.example.com")
	f.Add("rewrite-target", "/$1", "use-regex", "true", "/api/(.*)", "rw.example.com")
	// rewrite-target alone makes the path a regex; on "/" it must win over
	// the host's fallback; an absolute URL redirects, its host fixed text.
	f.Add("rewrite-target", "/$2", "proxy-read-timeout", "60", "/api(/|$)(.*)", "rw.example.com")
	f.Add("rewrite-target", "/", "ssl-redirect", "false", "/", "rw.example.com")
	f.Add("rewrite-target", "https://other.example.com/$1", "use-regex", "true", "/old/(.*)", "rw.example.com")
	f.Add("rewrite-target", "https://$1.example.com/$2", "use-regex", "true", "/(.*)/(.*)", "rw.example.com")
	f.Add("rewrite-target", "https://other.example.com/$1\";return 200 x;#", "use-regex", "true", "/(.*)", "rw.example.com")
	// service-upstream next to the balancing keys it makes moot.
	f.Add("service-upstream", "true", "upstream-hash-by", "$request_uri", "/", "mesh.example.com")
	f.Add("service-upstream", "true", "load-balance", "ewma", "/a", "mesh.example.com")
	f.Add("enable-cors", "true", "cors-allow-origin", "https://app.example.com", "/", "c.example.com")
	// An unsupported security key next to a supported one: the Ingress is refused whole.
	f.Add("enable-modsecurity", "true", "whitelist-source-range", "10.0.0.0/8", "/", "w.example.com")
	f.Add("enable-modsecurity", "false", "limit-rps", "5", "/", "w.example.com")
	// Both spellings of a renamed key: the current name wins.
	f.Add("allowlist-source-range", "10.0.0.0/8", "whitelist-source-range", "192.0.2.0/24", "/", "a.example.com")
	f.Add("denylist-source-range", "10.0.0.0/8", "blacklist-source-range", "10.0.0.0/8", "/", "a.example.com")
	f.Add("limit-allowlist", "10.0.0.0/8", "limit-whitelist", "10.0.0.0/8; allow all", "/", "a.example.com")
	f.Add("satisfy", "any", "auth-url", "http://auth.example.com/check", "/", "s.example.com")
	// ModSecurity keys act only with enable-modsecurity: pair them with it.
	f.Add("enable-owasp-core-rules", "true", "enable-modsecurity", "true", "/", "waf.example.com")
	f.Add("modsecurity-transaction-id", "$request_id", "enable-modsecurity", "true", "/", "waf.example.com")
	f.Add("modsecurity-transaction-id", "$http_x_id", "enable-modsecurity", "true", "/", "waf.example.com")
	f.Add("modsecurity-snippet", "SecRuleEngine Off\nInclude /etc/shadow", "enable-modsecurity", "true", "/", "waf.example.com")
	f.Add("modsecurity-snippet", "SecRule ARGS \"@pmFromFile /etc/passwd\" \"id:1,deny\"", "enable-modsecurity", "true", "/", "waf.example.com")
	f.Add("modsecurity-snippet", "SecRuleRemoveById 5-3", "enable-modsecurity", "true", "/", "waf.example.com")
	f.Add("modsecurity-snippet", "SecAuditLog /tmp/x\";\n}\nssl_engine foobar;#", "enable-modsecurity", "true", "/", "waf.example.com")

	r, err := render.New("")
	require.NoError(f, err)
	opts := goldenOptions()
	prefix := annotations.DefaultPrefix + "/"
	implemented := implementedKeys()
	// PORTICO_FUZZ_NGINX=1 also runs nginx -t while fuzzing (about ten
	// times slower): it finds values Portico accepts and nginx refuses.
	runNginx := !isFuzzing() || os.Getenv("PORTICO_FUZZ_NGINX") != ""
	var defaultPEM []byte
	tested := map[[32]byte]bool{} // seeds run one at a time; many render the same config
	if runNginx {
		nginxtest.Binary(f)
		defaultPEM, err = certs.SelfSigned(certs.DefaultCommonName, 24*60*60*1e9)
		require.NoError(f, err)
	}

	f.Fuzz(func(t *testing.T, key, value, key2, value2, path, host string) {
		anns := map[string]string{prefix + resolveKey(keys, key): value}
		anns[prefix+resolveKey(keys, key2)] = value2 // the same key twice: the second value wins
		snap := annotationSnapshot(anns, path, host)
		cfg, findings, conf, tree := renderShaped(t, r, snap, opts)
		checkVariables(t, tree)
		require.True(t, slices.ContainsFunc(cfg.Servers, func(s model.Server) bool { return s.Name == "bystander.example.com" }),
			"the bystander Ingress must always be served")

		for k, v := range anns {
			without := maps.Clone(anns)
			delete(without, k)
			_, _, base, baseTree := renderShaped(t, r, annotationSnapshot(without, path, host), opts)
			if !implemented[k] {
				if !slices.ContainsFunc(findings, func(f model.Finding) bool {
					return f.Object.Name == "fuzz" && f.Reason == model.ReasonUnsupportedSecurityAnnotation && strings.Contains(f.Message, k+" ")
				}) {
					require.Equal(t, string(base), string(conf), "the unimplemented %s must be inert", k)
				}
				continue
			}
			checkValueQuoted(t, k, v, conf, tree, base, baseTree)
		}

		rejected := slices.ContainsFunc(findings, func(f model.Finding) bool {
			return f.Object.Name == "fuzz" && (f.Reason == model.ReasonInvalidAnnotation || f.Reason == model.ReasonUnsupportedSecurityAnnotation)
		})
		if rejected {
			require.False(t, slices.ContainsFunc(cfg.Ingresses, func(o model.ObjectRef) bool { return o.Name == "fuzz" }),
				"an Ingress with a rejected annotation must not be served")
			clean := annotationSnapshot(nil, path, host)
			_, _, none, _ := renderShaped(t, r, withIngresses(clean, clean.Ingresses[:1]), opts)
			require.Equal(t, string(none), string(conf), "a rejected Ingress must leave no trace in nginx.conf")

			withLast := goldenOptions()
			withLast.LastAccepted = map[string]*networkingv1.Ingress{"default/fuzz": clean.Ingresses[1]}
			_, _, last, _ := renderShaped(t, r, snap, withLast)
			_, _, cleanConf, _ := renderShaped(t, r, clean, opts)
			require.Equal(t, string(cleanConf), string(last), "a rejected edit must keep the last accepted version, unchanged")
		}

		if !runNginx {
			return
		}
		sum := sha256.Sum256(conf)
		if tested[sum] {
			return
		}
		tested[sum] = true
		out, ok := nginxCheck(t, cfg, conf, defaultPEM)
		if !ok && knownNginxReject(anns, out) {
			t.Skipf("KNOWN PRODUCT BUG: Portico accepts %v with path %q but nginx -t rejects it (see knownNginxRejects): %s",
				anns, path, strings.TrimSpace(out))
		}
		require.True(t, ok, "nginx -t rejected the config:\n%s\n%s", out, conf)
	})
}

// knownNginxReject reports whether nginx's output is one of the
// knownNginxRejects errors for a key the seed sets.
func knownNginxReject(anns map[string]string, output string) bool {
	for k := range anns {
		if re, ok := knownNginxRejects[strings.TrimPrefix(k, annotations.DefaultPrefix+"/")]; ok && re.MatchString(output) {
			return true
		}
	}
	return false
}
