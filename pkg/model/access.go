package model

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
)

// defaultBurstMultiplier is ingress-nginx's limit-burst-multiplier default.
const defaultBurstMultiplier = 5

// policy turns an Ingress's annotations into what its locations carry, and
// registers the http-level limit zones it needs.
func (b *builder) policy(ing *networkingv1.Ingress, set annotations.Set) policy {
	pol := policy{proxy: set.Proxy}
	r := set.Routing
	if r.SSLRedirect != "" {
		v := r.SSLRedirect == "true"
		pol.sslRedirect = &v
	}
	pol.forceSSLRedirect = r.ForceSSLRedirect
	pol.backendProtocol = r.BackendProtocol
	pol.appRoot = r.AppRoot
	pol.wwwRedirect = r.FromToWWWRedirect
	pol.cors = b.cors(ing, set.CORS)
	pol.headers = set.Headers
	pol.balance = set.Balance
	if ch := set.CustomHeaders.ConfigMap; ch != "" {
		pol.responseHeaders = b.customHeaders(ing, ch)
	}
	if cc := set.ClientCert; cc.Secret != "" {
		pol.clientCert, pol.denied = b.clientCert(ing, cc)
		pol.passClientCert = cc.PassToUpstream
	}
	if ea := set.ExternalAuth; ea.URL != "" {
		pol.extAuth, pol.authEndpoint = externalAuth(ing, ea)
	}
	pol.regex = set.Rewrite.UseRegex || set.Rewrite.Target != ""
	pol.rewriteTarget = set.Rewrite.Target
	if sn := set.Snippets; len(sn.Location) > 0 || len(sn.Server) > 0 {
		if slices.Contains(b.opts.SnippetNamespaces, ing.Namespace) {
			pol.snippet, pol.serverSnippet = sn.Location, sn.Server
		} else {
			b.warn(ingressRef(ing), ReasonSnippetNotAllowed,
				"snippet annotations are ignored: the operator has not allowed them for namespace %s (--allow-snippet-annotations, --snippet-namespaces)", ing.Namespace)
		}
	}
	if db := set.DefaultBackend; db.Service != "" {
		pol.defaultBackend = b.annotationDefaultBackend(ing, db)
	}
	pol.errorPages, pol.errorLocations = b.customErrors(ing, set.DefaultBackend, pol.defaultBackend)
	if set.Auth.Type == "basic" {
		// Keep a refusal an earlier setting made: each check may only add one.
		var deny bool
		pol.basicAuth, deny = b.basicAuth(ing, set.Auth)
		pol.denied = pol.denied || deny
	}
	if ps := set.ProxySSL; ps != (annotations.ProxySSL{}) {
		var deny bool
		pol.proxySSL, deny = b.proxySSL(ing, ps, r.BackendProtocol)
		pol.denied = pol.denied || deny
	}
	switch {
	case r.PermanentRedirect != "":
		code := r.PermanentRedirectCode
		if code == 0 {
			code = 301
		}
		pol.redirect = &Action{Return: code, ReturnURL: r.PermanentRedirect}
	case r.TemporalRedirect != "":
		pol.redirect = &Action{Return: 302, ReturnURL: r.TemporalRedirect}
	}
	a := set.Access
	pol.access.Deny = a.Deny
	pol.access.Allow = a.Allow
	pol.access.DenyAll = len(a.Allow) > 0
	if a.RPS == 0 && a.RPM == 0 && a.Connections == 0 {
		return pol
	}
	// One zone set per Ingress, as ingress-nginx does. Names come from a
	// hash of namespace/name: nothing the user wrote reaches the zone or
	// variable names.
	id := hashID(ing)
	keyVar := "$binary_remote_addr"
	if len(a.LimitWhitelist) > 0 {
		ex := LimitExempt{Geo: "$portico_exempt_" + id, Key: "$portico_limit_" + id, Networks: a.LimitWhitelist}
		b.limitExempts[ex.Geo] = ex
		keyVar = ex.Key
	}
	mult := a.BurstMultiplier
	if mult == 0 {
		mult = defaultBurstMultiplier
	}
	if a.RPS > 0 {
		z := LimitZone{Name: "portico_" + id + "_rps", Key: keyVar, Rate: fmt.Sprintf("%dr/s", a.RPS)}
		b.limitZones[z.Name] = z
		pol.access.LimitReq = append(pol.access.LimitReq, LimitReq{Zone: z.Name, Burst: a.RPS * mult})
	}
	if a.RPM > 0 {
		z := LimitZone{Name: "portico_" + id + "_rpm", Key: keyVar, Rate: fmt.Sprintf("%dr/m", a.RPM)}
		b.limitZones[z.Name] = z
		pol.access.LimitReq = append(pol.access.LimitReq, LimitReq{Zone: z.Name, Burst: a.RPM * mult})
	}
	if a.Connections > 0 {
		z := LimitZone{Name: "portico_" + id + "_conn", Key: keyVar}
		b.limitZones[z.Name] = z
		pol.access.LimitConn = &LimitConn{Zone: z.Name, Connections: a.Connections}
	}
	return pol
}

// cors makes the render-ready CORS policy, with an origin map when several
// origins are allowed (its variable name comes from a hash).
func (b *builder) cors(ing *networkingv1.Ingress, c annotations.CORS) *LocationCORS {
	if !c.Enabled {
		return nil
	}
	out := &LocationCORS{
		AllowOrigin:      "*",
		AllowMethods:     cmp.Or(c.AllowMethods, annotations.DefaultCORSMethods),
		AllowHeaders:     cmp.Or(c.AllowHeaders, annotations.DefaultCORSHeaders),
		ExposeHeaders:    c.ExposeHeaders,
		AllowCredentials: c.AllowCredentials != "false",
		MaxAge:           cmp.Or(c.MaxAge, annotations.DefaultCORSMaxAge),
	}
	switch {
	case len(c.AllowOrigins) == 1:
		out.AllowOrigin = c.AllowOrigins[0]
	case len(c.AllowOrigins) > 1 && !slices.Contains(c.AllowOrigins, "*"):
		m := OriginMap{Variable: "$portico_cors_" + hashID(ing), Origins: c.AllowOrigins}
		b.originMaps[m.Variable] = m
		out.AllowOrigin = m.Variable
	}
	return out
}

// hashID names http-level objects of an Ingress without using its text.
func hashID(ing *networkingv1.Ingress) string {
	sum := sha256.Sum256([]byte(ing.Namespace + "/" + ing.Name))
	return hex.EncodeToString(sum[:6])
}

// balanced points an action at a variant of its upstream that uses the
// policy's balancing method. Upstreams are shared by every Ingress that
// uses a Service port, so a method one Ingress asks for gets its own
// upstream block instead of changing the others'. Backend TLS settings
// (proxy-ssl) get their own variant too: nginx pools keep-alive
// connections per upstream, and a connection verified for one Ingress's
// settings must never carry another Ingress's requests.
func (b *builder) balanced(a Action, pol policy) Action {
	bal := pol.balance
	lb := bal.HashBy != "" || bal.Method == "least_conn"
	if a.Upstream == "" || (!lb && pol.proxySSL == nil) {
		return a
	}
	base, ok := b.upstreams[a.Upstream]
	if !ok {
		return a
	}
	variant, suffix := bal.Method+"\n"+bal.HashBy, ".lb-"
	if ps := pol.proxySSL; ps != nil {
		variant += fmt.Sprintf("\n%s\n%s\n%s\n%s\n%s", ps.TrustedCertificate, ps.Certificate, ps.Verify, ps.Name, ps.ServerName)
		suffix = ".tls-"
	}
	sum := sha256.Sum256([]byte(variant))
	name := base.Name + suffix + hex.EncodeToString(sum[:4])
	if _, exists := b.upstreams[name]; !exists {
		v := &Upstream{Name: name, Endpoints: base.Endpoints, Hash: bal.HashBy}
		v.LeastConn = bal.HashBy == "" && bal.Method == "least_conn"
		b.upstreams[name] = v
	}
	a.Upstream = name
	a.ProxyPass = strings.Replace(a.ProxyPass, base.Name, name, 1)
	return a
}

// externalAuth builds the auth_request settings. The internal location's
// path and the header variables come from a hash and an index; the
// sign-in URL gets rd= with the original URL, which nginx expands.
func externalAuth(ing *networkingv1.Ingress, ea annotations.ExternalAuth) (*ExternalAuth, *AuthEndpoint) {
	ep := &AuthEndpoint{Path: "/_portico_auth_" + hashID(ing), URL: ea.URL}
	if ea.Method != "" && ea.Method != "GET" {
		ep.Method = ea.Method
	}
	auth := &ExternalAuth{Endpoint: ep.Path}
	if ea.SignIn != "" {
		sep := "?"
		if strings.Contains(ea.SignIn, "?") {
			sep = "&"
		}
		auth.SignIn = ea.SignIn + sep + "rd=$scheme://$http_host$request_uri"
	}
	for i, h := range ea.ResponseHeaders {
		auth.Headers = append(auth.Headers, AuthHeader{
			Name:     h,
			Variable: fmt.Sprintf("$portico_auth_header_%d", i),
			Upstream: "$upstream_http_" + strings.ReplaceAll(strings.ToLower(h), "-", "_"),
		})
	}
	return auth, ep
}

// clientCert loads the CA of auth-tls-secret (same namespace only). A
// missing or bad CA fails closed: the Ingress's paths answer 503.
func (b *builder) clientCert(ing *networkingv1.Ingress, cc annotations.ClientCert) (*ServerClientCert, bool) {
	ref := ingressRef(ing)
	name := cc.Secret
	if ns, n, ok := strings.Cut(cc.Secret, "/"); ok {
		if ns != ing.Namespace {
			b.warn(ref, ReasonInvalidAuthSecret, "auth-tls-secret %q is in another namespace; requests get 503", truncate(cc.Secret))
			return nil, true
		}
		name = n
	}
	secret, ok := b.secrets[key(ing.Namespace, name)]
	if !ok {
		b.warn(ref, ReasonInvalidAuthSecret, "auth-tls-secret %s/%s not found; requests get 503", ing.Namespace, name)
		return nil, true
	}
	pemCA, err := normalizeCA(secret.Data["ca.crt"])
	if err != nil {
		b.warn(ref, ReasonInvalidAuthSecret, "auth-tls-secret %s/%s: %v; requests get 503", ing.Namespace, name, err)
		return nil, true
	}
	sum := sha256.Sum256(pemCA)
	p := path.Join(b.opts.CertificateDir, "ca-"+hex.EncodeToString(sum[:10])+".pem")
	b.certificates[p] = Certificate{Path: p, PEM: pemCA}
	verify := cc.Verify
	if verify == "" {
		verify = "on"
	}
	depth := cc.Depth
	if depth == 0 {
		depth = 1
	}
	return &ServerClientCert{CAFile: p, Verify: verify, Depth: depth, Source: key(ing.Namespace, ing.Name)}, false
}

// normalizeCA keeps the CERTIFICATE blocks of ca.crt, re-encoded, and
// requires at least one CA certificate.
func normalizeCA(data []byte) ([]byte, error) {
	var out bytes.Buffer
	haveCA := false
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("ca.crt holds an invalid certificate: %w", err)
		}
		haveCA = haveCA || cert.IsCA
		if err := pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}); err != nil {
			return nil, fmt.Errorf("encoding ca.crt: %w", err)
		}
	}
	if !haveCA {
		return nil, errors.New(`key "ca.crt" holds no CA certificate`)
	}
	return out.Bytes(), nil
}

// customHeaders reads a custom-headers ConfigMap of the Ingress's namespace.
// Entries that are not a header name and a plain value are skipped with a
// finding; values may not hold "$" because add_header would expand it.
func (b *builder) customHeaders(ing *networkingv1.Ingress, ref string) []HeaderValue {
	about := ingressRef(ing)
	name := ref
	if ns, n, ok := strings.Cut(ref, "/"); ok {
		if ns != ing.Namespace {
			b.warn(about, ReasonIneffectiveAnnotation, "custom-headers ConfigMap %q is in another namespace and is not used", truncate(ref))
			return nil
		}
		name = n
	}
	cm, ok := b.configMaps[key(ing.Namespace, name)]
	if !ok {
		b.warn(about, ReasonConfigMapNotFound, "custom-headers ConfigMap %s/%s not found; no headers added", ing.Namespace, name)
		return nil
	}
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []HeaderValue
	for _, k := range keys {
		v := cm.Data[k]
		if !headerNamePattern.MatchString(k) || !plainHeaderValue(v) {
			b.warn(about, ReasonIneffectiveAnnotation, "custom-headers entry %q is skipped: it needs a header name and a value without $ or control characters", truncate(k))
			continue
		}
		out = append(out, HeaderValue{Name: k, Value: v})
	}
	return out
}

var headerNamePattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

func plainHeaderValue(v string) bool {
	if len(v) > 4096 || strings.Contains(v, "$") {
		return false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
