package model

import (
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Options are the operator's choices that shape the model (command-line flags).
type Options struct {
	// ControllerClass is the spec.controller value of IngressClasses this controller serves.
	ControllerClass string
	// IngressClass is the class name matched by the legacy kubernetes.io/ingress.class annotation,
	// in addition to the names of IngressClasses whose controller is ControllerClass.
	IngressClass string
	// WatchIngressWithoutClass serves Ingresses that name no class even when no default class is ours.
	WatchIngressWithoutClass bool
	// DefaultBackendService ("namespace/name" or "namespace/name:port") answers requests no rule matches.
	DefaultBackendService string
	// DefaultSSLCertificate ("namespace/name") names the Secret used when a TLS host has no usable Secret.
	DefaultSSLCertificate string
	// CertificateDir is the directory certificate files are written to.
	CertificateDir string
	// AuthDir is the directory htpasswd files are written to (workers must be able to enter it).
	AuthDir string
	// DisableSSLRedirect turns off the default 308 redirect from HTTP to HTTPS for TLS hosts.
	DisableSSLRedirect bool
	// ConfigMap ("namespace/name") holds global options with ingress-nginx's key names; "" for none.
	ConfigMap string
	// Global is copied into the Config; Global.DefaultCertificate must name the fallback (self-signed) file.
	Global Global
	// SnippetNamespaces are the namespaces whose Ingresses may use snippet
	// annotations; none unless the operator lists them.
	SnippetNamespaces []string
	// AnnotationPrefix is the prefix of the annotations read ("" means nginx.ingress.kubernetes.io).
	AnnotationPrefix string
	// LastAccepted are the Ingresses the previous build accepted (Config.Accepted), by
	// "namespace/name". An Ingress whose annotations turn invalid is served as it was
	// last accepted; Build stays pure because this state comes in as an input.
	LastAccepted map[string]*networkingv1.Ingress
	// AllowSharedHosts serves rules of several namespaces for one host (each
	// its own paths); without it only the namespace that owns a host is
	// served on it. Host-wide settings come from the owner either way.
	AllowSharedHosts bool
	// LastOwners are the previous build's Config.Owners: a namespace keeps
	// a host it owns while one of its Ingresses claims it (with
	// LastAccepted, which tells who owned a host that was not contested).
	LastOwners map[string]string
	// Excluded are Ingress versions whose lines nginx -t refused, by
	// "namespace/name": they are not served (their last accepted version
	// is, if it is another), so that one object cannot hold back every
	// other change. A later version of the Ingress is tried again.
	Excluded map[string]Exclusion
	// ExcludedConfigMap, when set, is a version of the options ConfigMap
	// whose lines nginx -t refused: LastConfigMap is applied instead (the
	// defaults when there is none, or it is that version).
	ExcludedConfigMap *ConfigMapExclusion
	// LastConfigMap is the previous build's Config.ConfigMap.
	LastConfigMap *corev1.ConfigMap
	// LastConfigMapValues is the previous build's Config.ConfigMapValues:
	// a bad value of a KeepLast key keeps the value it had there.
	LastConfigMapValues map[string]string
	// LastGlobalAuth is the live config's Global.GlobalAuth: a ConfigMap
	// edit whose global-auth-* keys fail their checks keeps it (unless it
	// was refused too), so that no typo switches the authentication of
	// every Ingress off.
	LastGlobalAuth *GlobalAuth
	// Limits bound what one object may cost (limits.go); zero fields take
	// the defaults.
	Limits Limits
	// KeyPairs, when set, memoizes the checking of TLS key pairs across
	// builds; the output is the same with or without it.
	KeyPairs *KeyPairCache
	// OwnAddresses are the controller Pod's own addresses: no backend may
	// be one of them (AddressPolicy).
	OwnAddresses []netip.Addr
	// AllowLoopbackBackends lets backends be on loopback, except on
	// ControllerPorts and nginx's own ports: for development and the local
	// test suites only, since a loopback backend reaches whatever else
	// listens in the controller's Pod.
	AllowLoopbackBackends bool
	// ControllerPorts are the controller's own ports (status and debug
	// servers), refused on loopback even with AllowLoopbackBackends.
	ControllerPorts []int
	// LastCertificates are the live config's Config.Certificates (sorted
	// by Path): a TLS Secret whose content turns invalid, or whose new
	// certificate has expired, keeps serving its pair from there, as
	// LastAccepted does for Ingresses. The same Secret object (UID) only: a
	// Secret deleted and made again starts afresh.
	LastCertificates []Certificate
	// Now is the time certificates are checked against: Build reads no
	// clock, so the same inputs give the same Config. Zero turns the
	// expiry checks off.
	Now time.Time
	// CertificateExpiryWarning is how long before its expiry a served
	// certificate is reported (CertificateExpiresSoon); 0 reports only
	// expired ones.
	CertificateExpiryWarning time.Duration
	// Units, when set, lets Build reuse what it translated for Ingresses
	// and objects that did not change since an earlier Build with the same
	// cache (units.go). Pass one to every Build for the life of the process.
	Units *UnitCache
}

// WithoutHistory returns the options without what earlier builds hand
// back (LastAccepted and the other Last* fields, Excluded,
// ExcludedConfigMap) and without the caches (KeyPairs, Units): the
// operator's choices alone.
func (o Options) WithoutHistory() Options {
	o.LastAccepted, o.LastOwners, o.Excluded = nil, nil, nil
	o.ExcludedConfigMap, o.LastConfigMap, o.LastConfigMapValues = nil, nil, nil
	o.LastGlobalAuth, o.LastCertificates = nil, nil
	o.KeyPairs, o.Units = nil, nil
	return o
}

// Exclusion is an Ingress version nginx -t refused.
type Exclusion struct {
	// Ingress is the version refused.
	Ingress *networkingv1.Ingress
	// Message is nginx's error about its lines.
	Message string
}

// ConfigMapExclusion is a version of the options ConfigMap whose lines
// nginx -t refused.
type ConfigMapExclusion struct {
	// ConfigMap is the version refused.
	ConfigMap *corev1.ConfigMap
	// Message is nginx's error about its lines.
	Message string
}

// versioned is what SameVersion compares: a pointer to a Kubernetes object.
type versioned interface {
	comparable
	GetUID() types.UID
	GetResourceVersion() string
}

// SameVersion reports whether a and b are the same version of an object:
// the same pointer (informers and the manifests source hand out unchanged
// objects as they are), or the same UID and resourceVersion.
func SameVersion[T versioned](a, b T) bool {
	var none T
	if a == b {
		return true
	}
	return a != none && b != none && a.GetUID() == b.GetUID() && a.GetResourceVersion() != "" && a.GetResourceVersion() == b.GetResourceVersion()
}

// DefaultCertificateExpiryWarning is the default of
// Options.CertificateExpiryWarning: 14 days, time for a renewal to be
// noticed and fixed by hand.
const DefaultCertificateExpiryWarning = 14 * 24 * time.Hour

// DefaultControllerClass is the spec.controller value Portico answers to.
const DefaultControllerClass = "portico.dev/ingress-controller"

// DefaultIngressClass is the legacy annotation class name Portico answers to.
const DefaultIngressClass = "portico"

// DefaultGlobal returns the http-level defaults, the same values ingress-nginx users know.
func DefaultGlobal() Global {
	return Global{
		HTTPPort:                   80,
		HTTPSPort:                  443,
		InternalPort:               10246,
		InternalSocket:             "/tmp/portico/internal/nginx.sock",
		Balancer:                   BalancerLua,
		LuaModules:                 DebianLuaModules(),
		LuaDir:                     "/tmp/portico/lua",
		ModSecurityModule:          DebianModSecurityModule,
		HeadersMoreModule:          DebianHeadersMoreModule,
		ModSecurityConf:            DebianModSecurityConf,
		OWASPCRSSetup:              DebianOWASPCRSSetup,
		OWASPCRSRules:              DebianOWASPCRSRules,
		PIDFile:                    "/tmp/portico/nginx.pid",
		RuntimeDir:                 "/tmp/portico",
		ErrorLog:                   "stderr",
		ErrorLogLevel:              "notice",
		AccessLog:                  "/dev/stdout",
		WorkerProcesses:            "auto",
		WorkerConnections:          16384,
		WorkerShutdownTimeout:      "240s",
		UpstreamKeepalive:          320,
		UpstreamKeepaliveRequests:  10000,
		UpstreamKeepaliveTimeout:   "60s",
		ProxyConnectTimeout:        "5s",
		ProxyReadTimeout:           "60s",
		ProxySendTimeout:           "60s",
		ClientMaxBodySize:          "1m",
		ClientBodyBufferSize:       "8k",
		KeepaliveTimeout:           "75s",
		KeepaliveRequests:          1000,
		SSLProtocols:               []string{"TLSv1.2", "TLSv1.3"},
		SSLCiphers:                 DefaultSSLCiphers,
		HSTS:                       "max-age=31536000; includeSubDomains",
		HTTP2:                      true,
		LogFormat:                  DefaultLogFormat,
		SSLRedirect:                true,
		GenerateRequestID:          true,
		GenerateTraceparent:        true,
		TrustIncomingTraceparent:   true,
		ForwardedForHeader:         "X-Forwarded-For",
		ProxyProtocolHeaderTimeout: "5s",
	}
}

// DefaultSSLCiphers is ingress-nginx's default cipher list (forward secrecy, AEAD only).
const DefaultSSLCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" +
	"ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" +
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"

// DefaultLogFormat is the access log line: ingress-nginx's default
// (log-format-upstream), field for field, so that the parsers people run
// on its logs read Portico's unchanged.
const DefaultLogFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent ` +
	`"$http_referer" "$http_user_agent" $request_length $request_time ` +
	`[$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr ` +
	`$upstream_response_length $upstream_response_time $upstream_status $req_id`

// DebianLuaModules are the dynamic modules Debian's nginx-extras needs for
// the Lua balancer, in load order (the Lua module needs NDK first).
func DebianLuaModules() []string {
	return []string{"/usr/share/nginx/modules/ndk_http_module.so", "/usr/share/nginx/modules/ngx_http_lua_module.so"}
}
