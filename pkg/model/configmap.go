package model

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/excerpt"
)

// GlobalOption is one key of the options ConfigMap: ingress-nginx's name,
// what it sets, and how a value is checked. The table is the single place
// a key is declared; docs/configmap.md is generated from it.
type GlobalOption struct {
	// Key is the ConfigMap key, the same as ingress-nginx's.
	Key string
	// Default is the value used when the key is absent, as text.
	Default string
	// Doc is a one-line description.
	Doc string
	// apply validates a value and stores it; nil for the global-auth
	// keys, which are checked together (applyGlobalAuth).
	apply func(g *Global, value string) error
	// KeepLast makes a bad value keep the value the live config had for
	// the key (Options.LastConfigMapValues, when the live config applied
	// the same ConfigMap object) rather than the default: for keys whose
	// default would silently change who is trusted or what is refused, or
	// what people's log pipelines parse and where they read it.
	KeepLast bool
	// failClosed, when set, is called instead of keeping the default when
	// a bad value has no accepted one to fall back on: for security
	// controls, whose default would silently turn them off.
	failClosed func(g *Global, why string)
}

// FailsClosed reports whether a bad value with no accepted one to keep
// turns what the key controls off for everyone it covers (their paths
// answer 503) instead of keeping the default.
func (o GlobalOption) FailsClosed() bool { return o.failClosed != nil }

// GlobalOptions lists every supported ConfigMap key, sorted by key.
func GlobalOptions() []GlobalOption {
	opts := []GlobalOption{
		{Key: "proxy-connect-timeout", Default: "5", Doc: "seconds to wait for a connection to a backend",
			apply: seconds(func(g *Global, v string) { g.ProxyConnectTimeout = v })},
		{Key: "proxy-read-timeout", Default: "60", Doc: "seconds between two reads from a backend before the request fails",
			apply: seconds(func(g *Global, v string) { g.ProxyReadTimeout = v })},
		{Key: "proxy-send-timeout", Default: "60", Doc: "seconds between two writes to a backend before the request fails",
			apply: seconds(func(g *Global, v string) { g.ProxySendTimeout = v })},
		{Key: "proxy-body-size", Default: "1m", Doc: "largest request body accepted (nginx size: 8k, 1m, 0 for no limit)",
			apply: size(func(g *Global, v string) { g.ClientMaxBodySize = v })},
		{Key: "client-body-buffer-size", Default: "8k", Doc: "request body size kept in memory before it goes to a temporary file",
			apply: size(func(g *Global, v string) { g.ClientBodyBufferSize = v })},
		{Key: "upstream-keepalive-connections", Default: "320", Doc: "idle keep-alive connections to backends each worker keeps per upstream (0 turns keep-alive off)",
			apply: integer(0, 1<<20, func(g *Global, n int) { g.UpstreamKeepalive = n })},
		{Key: "upstream-keepalive-requests", Default: "10000", Doc: "requests one backend connection serves before it is closed",
			apply: integer(1, 1<<30, func(g *Global, n int) { g.UpstreamKeepaliveRequests = n })},
		{Key: "upstream-keepalive-timeout", Default: "60", Doc: "seconds an idle backend connection stays open",
			apply: seconds(func(g *Global, v string) { g.UpstreamKeepaliveTimeout = v })},
		{Key: "keep-alive", Default: "75", Doc: "seconds an idle client connection stays open",
			apply: seconds(func(g *Global, v string) { g.KeepaliveTimeout = v })},
		{Key: "keep-alive-requests", Default: "1000", Doc: "requests one client connection may carry",
			apply: integer(1, 1<<30, func(g *Global, n int) { g.KeepaliveRequests = n })},
		{Key: "ssl-protocols", Default: "TLSv1.2 TLSv1.3", Doc: "enabled TLS versions, space separated (TLSv1, TLSv1.1, TLSv1.2, TLSv1.3)",
			apply: applySSLProtocols},
		{Key: "ssl-ciphers", Default: "(forward-secret AEAD ciphers)", Doc: "OpenSSL cipher list for TLS 1.2 and older",
			apply: applySSLCiphers},
		{Key: "ssl-redirect", Default: "true", Doc: "redirect plain HTTP to HTTPS (308) for hosts with TLS",
			apply: boolean(func(g *Global, b bool) { g.SSLRedirect = b })},
		{Key: "hsts", Default: "true", Doc: "send Strict-Transport-Security on TLS hosts",
			apply: func(g *Global, v string) error { return nil }},
		{Key: "hsts-max-age", Default: "31536000", Doc: "HSTS max-age in seconds",
			apply: func(g *Global, v string) error { return nil }},
		{Key: "hsts-include-subdomains", Default: "true", Doc: "add includeSubDomains to HSTS",
			apply: func(g *Global, v string) error { return nil }},
		{Key: "hsts-preload", Default: "false", Doc: "add preload to HSTS",
			apply: func(g *Global, v string) error { return nil }},
		{Key: "use-http2", Default: "true", Doc: "serve HTTP/2 on TLS listeners",
			apply: boolean(func(g *Global, b bool) { g.HTTP2 = b })},
		{Key: "server-tokens", Default: "false", Doc: "show the nginx version in the Server header and error pages",
			apply: boolean(func(g *Global, b bool) { g.ServerTokens = b })},
		{Key: "generate-request-id", Default: "true", Doc: "give requests without an X-Request-ID header a random one (32 hex digits), sent to the backend and logged as $req_id; a client's own X-Request-ID is passed on either way. Off saves about a microsecond of worker CPU per request, " +
			"if generate-traceparent is off too (a generated traceparent is made from the same random ID)",
			apply: boolean(func(g *Global, b bool) { g.GenerateRequestID = b })},
		{Key: "generate-traceparent", Default: "true", Doc: "give requests without a valid W3C traceparent header (or, with trust-incoming-traceparent off, every request) " +
			"a new one sent to the backend: 00-$request_id-<last 16 hex digits of $request_id>-01, logged as $traceparent and $trace_id " +
			"(docs/tracing.md). Off, such requests reach the backend without traceparent or tracestate",
			apply: boolean(func(g *Global, b bool) { g.GenerateTraceparent = b })},
		{Key: "trust-incoming-traceparent", Default: "true", Doc: "pass a client's valid traceparent header (W3C Trace Context: version 00, " +
			"lower-case hex, trace-id and parent-id not all zeros; or a later version in the form the specification lets a version-00 " +
			"reader parse) and its tracestate on unchanged; an invalid one is never passed on. Off, every request gets a generated " +
			"traceparent (generate-traceparent) and no tracestate, as ingress-nginx's opentelemetry-trust-incoming-span off",
			apply: boolean(func(g *Global, b bool) { g.TrustIncomingTraceparent = b }), KeepLast: true},
		{Key: "log-format-upstream", Default: "(ingress-nginx's default)", Doc: "access log format: " +
			"nginx's variables (and the $http_, $sent_http_, $upstream_http_, $cookie_, $arg_ families) and " +
			"ingress-nginx's per-location ones ($namespace, $ingress_name, $service_name, $service_port, " +
			"$proxy_upstream_name, $proxy_alternative_upstream_name, $req_id, $the_real_ip) and Portico's $traceparent and " +
			"$trace_id (the W3C trace context sent to the backend, see generate-traceparent; not in the default format, " +
			"which stays ingress-nginx's field for field); a format naming " +
			"any other variable is refused and the last accepted one stays",
			apply: applyLogFormat, KeepLast: true},
		{Key: "log-format-escape-json", Default: "false", Doc: "escape the variables of the access log format for JSON (log_format escape=json), " +
			"so that a format written as JSON stays valid JSON whatever a client sends",
			apply: boolean(func(g *Global, b bool) { g.LogEscapeJSON = b }), KeepLast: true},
		{Key: "log-format-escape-none", Default: "false", Doc: "do not escape the variables of the access log format (escape=none); " +
			"wins over log-format-escape-json, as in ingress-nginx. A client's quote or newline then reaches the log as sent",
			apply: boolean(func(g *Global, b bool) { g.LogEscapeNone = b }), KeepLast: true},
		{Key: "skip-access-log-urls", Default: "(none)", Doc: "comma-separated request URIs the access log leaves out, each compared " +
			"with the whole $request_uri (path and query, as the client sent it; nginx compares without regard to case), " +
			"e.g. /healthz,/metrics",
			apply: applySkipAccessLogURLs, KeepLast: true},
		{Key: "access-log-path", Default: "/dev/stdout", Doc: "access log file, overriding --access-log: /dev/stdout, /dev/stderr, or an " +
			"absolute path in a --log-dir directory (/var/log by default; in Portico's image, as in ingress-nginx's, " +
			"/var/log/nginx/access.log is a link to /dev/stdout). nginx -t, which the controller runs, opens the file: " +
			"a directory that does not exist there makes it refuse the ConfigMap, whose last accepted version stays. With deploy/'s " +
			"read-only root file systems, mount a volume at the file's directory in both containers",
			apply: applyAccessLogPath, KeepLast: true},
		{Key: "error-log-path", Default: "stderr", Doc: "nginx's error log: stderr, /dev/stderr, /dev/stdout, or an absolute path " +
			"in a --log-dir directory, as for access-log-path (/var/log/nginx/error.log is a link to /dev/stderr)",
			apply: applyErrorLogPath, KeepLast: true},
		{Key: "enable-access-log-for-default-backend", Default: "false", Doc: "log the requests of unknown hosts and unmatched " +
			"paths of host-less rules that the default server answers with --default-backend-service or 404 (as ingress-nginx, " +
			"they are left out by default); a default backend an Ingress sets is always logged",
			apply: boolean(func(g *Global, b bool) { g.AccessLogDefaultBackend = b }), KeepLast: true},
		{Key: "log-format-stream", Default: "(none)", Doc: "not supported: Portico has no stream (TCP/UDP) block to log; " +
			"a value is reported and changes nothing",
			apply: func(*Global, string) error {
				return errors.New("is not supported: Portico has no stream (TCP/UDP) block")
			}},
		{Key: "disable-access-log", Default: "false", Doc: "turn the access log off",
			apply: boolean(func(g *Global, b bool) {
				if b {
					g.AccessLog = "off"
				}
			})},
		{Key: "error-log-level", Default: "notice", Doc: "least severe nginx error log messages written: " +
			"debug, info, notice, warn, error, crit, alert or emerg",
			apply: applyErrorLogLevel},
		{Key: "worker-processes", Default: "auto", Doc: "nginx worker processes: auto or a number",
			apply: applyWorkerProcesses},
		{Key: "max-worker-connections", Default: "16384", Doc: "connections each worker may hold",
			apply: integer(64, 1<<20, func(g *Global, n int) { g.WorkerConnections = n })},
		{Key: "use-forwarded-headers", Default: "false", Doc: "take the client address from forwarded-for-header, and the scheme, host and port sent upstream from X-Forwarded-Proto/Host/Port, when the request comes from an address in proxy-real-ip-cidr (X-Forwarded-Proto: https then stops the HTTPS redirect); headers from other addresses are ignored",
			apply: boolean(func(g *Global, b bool) { g.UseForwardedHeaders = b }), KeepLast: true},
		{Key: "enable-real-ip", Default: "false", Doc: "take the client address from forwarded-for-header when the request comes from an address in proxy-real-ip-cidr, without trusting the other X-Forwarded-* headers",
			apply: boolean(func(g *Global, b bool) { g.EnableRealIP = b }), KeepLast: true},
		{Key: "forwarded-for-header", Default: "X-Forwarded-For", Doc: "header the client address is read from (letters, digits and -, up to 64), e.g. CF-Connecting-IP",
			apply: applyForwardedForHeader, KeepLast: true},
		{Key: "compute-full-forwarded-for", Default: "false", Doc: "with use-forwarded-headers or enable-real-ip, send upstream the received forwarded-for-header chain plus the address that sent the request, instead of the client address alone",
			apply: boolean(func(g *Global, b bool) { g.ComputeFullForwardedFor = b }), KeepLast: true},
		{Key: "proxy-real-ip-cidr", Default: "(none)", Doc: "comma-separated networks (CIDR) or addresses of the load balancers whose forwarded and PROXY headers are trusted. ingress-nginx's default 0.0.0.0/0 trusts every client; Portico trusts none until they are listed, so no client can choose its own address",
			apply: applyRealIPCIDR, KeepLast: true},
		{Key: "use-proxy-protocol", Default: "false", Doc: "every HTTP and HTTPS listener expects a PROXY protocol (v1 or v2) header; the client address comes from it when the sender is in proxy-real-ip-cidr, also with use-forwarded-headers (ingress-nginx then reads forwarded-for-header from a trusted sender; Portico does not). Connections without the header are refused",
			apply: boolean(func(g *Global, b bool) { g.ProxyProtocol = b }), KeepLast: true},
		{Key: "proxy-protocol-header-timeout", Default: "5s", Doc: "accepted for ingress-nginx configurations (an nginx time from 1ms to 24h); nginx's HTTP listeners read the PROXY header within the client header timeout, so it changes nothing in Portico",
			apply: applyProxyProtocolHeaderTimeout, KeepLast: true},
		{Key: "worker-shutdown-timeout", Default: "240s", Doc: "how long workers of an old configuration may finish their requests after a reload before nginx closes their connections (nginx time from 1ms to 24h: 240s, 5m, 1m30s)",
			apply: applyWorkerShutdownTimeout},
	}
	opts = append(opts, globalAuthOptions()...)
	opts = append(opts, modSecurityOptions()...)
	slices.SortFunc(opts, func(a, b GlobalOption) int { return strings.Compare(a.Key, b.Key) })
	return opts
}

var (
	sizePattern    = regexp.MustCompile(`^[0-9]{1,9}[kKmMgG]?$`)
	cipherPattern  = regexp.MustCompile(`^[A-Za-z0-9:+!@._=-]+$`)
	secondsPattern = regexp.MustCompile(`^[0-9]{1,7}$`)
)

func seconds(set func(*Global, string)) func(*Global, string) error {
	return func(g *Global, v string) error {
		if !secondsPattern.MatchString(v) {
			return fmt.Errorf("must be a whole number of seconds, like 60")
		}
		set(g, v+"s")
		return nil
	}
}

func size(set func(*Global, string)) func(*Global, string) error {
	return func(g *Global, v string) error {
		if !sizePattern.MatchString(v) {
			return fmt.Errorf("must be an nginx size, like 8k, 1m or 0")
		}
		set(g, v)
		return nil
	}
}

func integer(lo, hi int, set func(*Global, int)) func(*Global, string) error {
	return func(g *Global, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be a whole number from %d to %d", lo, hi)
		}
		set(g, n)
		return nil
	}
}

func boolean(set func(*Global, bool)) func(*Global, string) error {
	return func(g *Global, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false")
		}
		set(g, b)
		return nil
	}
}

func applySSLProtocols(g *Global, v string) error {
	allowed := []string{"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return fmt.Errorf("must list at least one of %s", strings.Join(allowed, ", "))
	}
	for _, f := range fields {
		if !slices.Contains(allowed, f) {
			return fmt.Errorf("%q is not one of %s", excerpt.Of(f), strings.Join(allowed, ", "))
		}
	}
	g.SSLProtocols = fields
	return nil
}

func applySSLCiphers(g *Global, v string) error {
	if len(v) > 2048 || !cipherPattern.MatchString(v) {
		return fmt.Errorf("must be an OpenSSL cipher list (letters, digits and : + ! @ . _ = -)")
	}
	g.SSLCiphers = v
	return nil
}

func applyLogFormat(g *Global, v string) error {
	if err := CheckLogFormat(v); err != nil {
		return err
	}
	g.LogFormat = v
	return nil
}

// CheckLogFormat checks an access log format (log_format's argument): one
// line of at most 4096 characters whose every variable ($name or ${name})
// is one every request has (annotations.KnownVariable), so that the format
// can never make nginx -t fail. nginx reads a "$" not followed by a name as
// an error too, so a lone "$" is refused.
func CheckLogFormat(v string) error {
	if strings.TrimSpace(v) == "" || len(v) > 4096 {
		return fmt.Errorf("must be between 1 and 4096 characters")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return fmt.Errorf("must be one line without control characters")
		}
	}
	names, err := logFormatVariables(v)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !annotations.KnownVariable(strings.ToLower(n)) {
			return fmt.Errorf("names the unknown variable $%s (see docs/configmap.md for the variables a format may use)", excerpt.Of(n))
		}
	}
	return nil
}

// logFormatVariables returns the variable names of a log format, the way
// nginx's script compiler reads them: "$" then letters, digits and "_", or
// "${" name "}".
func logFormatVariables(v string) ([]string, error) {
	var names []string
	for i := 0; i < len(v); i++ {
		if v[i] != '$' {
			continue
		}
		i++
		braced := i < len(v) && v[i] == '{'
		if braced {
			i++
		}
		start := i
		for i < len(v) && isVariableByte(v[i]) {
			i++
		}
		if i == start {
			return nil, fmt.Errorf("has a \"$\" at byte %d without a variable name after it", start)
		}
		if braced {
			if i >= len(v) || v[i] != '}' {
				return nil, fmt.Errorf("has an unclosed \"${\" at byte %d", start)
			}
		}
		names = append(names, v[start:i])
		if !braced {
			i--
		}
	}
	return names, nil
}

// isVariableByte reports whether c may be part of an nginx variable name.
func isVariableByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// errorLogLevels are nginx's error_log levels, least severe first.
var errorLogLevels = []string{"debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"}

func applyErrorLogLevel(g *Global, v string) error {
	if !slices.Contains(errorLogLevels, v) {
		return fmt.Errorf("must be one of %s", strings.Join(errorLogLevels, ", "))
	}
	g.ErrorLogLevel = v
	return nil
}

func applyWorkerProcesses(g *Global, v string) error {
	if v == "auto" {
		g.WorkerProcesses = v
		return nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1024 {
		return fmt.Errorf("must be auto or a number from 1 to 1024")
	}
	g.WorkerProcesses = strconv.Itoa(n)
	return nil
}

// timeUnit is one suffix of an nginx time and its length in milliseconds.
type timeUnit struct {
	suffix string
	ms     int64
}

// nginxTimeUnits are the suffixes of an nginx time, most significant first
// (ngx_parse_time refuses them out of that order).
var nginxTimeUnits = []timeUnit{
	{"y", 365 * 24 * 3600 * 1000}, {"M", 30 * 24 * 3600 * 1000}, {"w", 7 * 24 * 3600 * 1000},
	{"d", 24 * 3600 * 1000}, {"h", 3600 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1},
}

// nginxTimePart is one number and its optional unit at the start of an nginx time.
var nginxTimePart = regexp.MustCompile(`^([0-9]{1,7})(ms|[yMwdhms])?`)

// maxWorkerShutdownTimeout bounds worker_shutdown_timeout: old workers that
// live longer than a day after a reload are a leak, not a grace period.
const maxWorkerShutdownTimeout = 24 * 3600 * 1000

// applyWorkerShutdownTimeout accepts an nginx time for worker_shutdown_timeout.
// The parts must be in nginx's order (1m30s, not 30s1m) so that nginx -t never
// sees a value the model accepted. 0 is refused because nginx reads it as "no
// timeout": the workers of every old configuration that still hold a
// long-lived connection (websockets, streaming) would then pile up, reload
// after reload.
func applyWorkerShutdownTimeout(g *Global, v string) error {
	if err := checkNginxTime(v, maxWorkerShutdownTimeout); err != nil {
		return fmt.Errorf("must be an nginx time from 1ms to 24h, like 240s, 5m or 1m30s")
	}
	g.WorkerShutdownTimeout = v
	return nil
}

// applyProxyProtocolHeaderTimeout accepts an nginx time from 1ms to 24h.
func applyProxyProtocolHeaderTimeout(g *Global, v string) error {
	if err := checkNginxTime(v, 24*3600*1000); err != nil {
		return fmt.Errorf("must be an nginx time from 1ms to 24h, like 5s")
	}
	g.ProxyProtocolHeaderTimeout = v
	return nil
}

// forwardedHeaderPattern is the part of the HTTP token grammar (RFC 9110) whose
// names nginx can also spell as a variable ($http_x_forwarded_for): letters,
// digits and "-".
var forwardedHeaderPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

func applyForwardedForHeader(g *Global, v string) error {
	if !forwardedHeaderPattern.MatchString(v) {
		return fmt.Errorf("must be a header name of letters, digits and - (up to 64), like X-Forwarded-For")
	}
	g.ForwardedForHeader = v
	return nil
}

// maxRealIPCIDRs bounds proxy-real-ip-cidr: each entry is a line of nginx.conf.
const maxRealIPCIDRs = 1000

// applyRealIPCIDR parses a comma-separated list of networks or addresses
// with net/netip and keeps them masked (10.0.0.1/8 is 10.0.0.0/8), so that
// nothing but a canonical prefix reaches nginx.conf.
func applyRealIPCIDR(g *Global, v string) error {
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil || a.Zone() != "" {
				return fmt.Errorf("has %q, which is neither a CIDR network nor an IP address", excerpt.Of(f))
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = p.Masked()
		if !slices.Contains(out, p.String()) {
			out = append(out, p.String())
		}
	}
	if len(out) == 0 || len(out) > maxRealIPCIDRs {
		return fmt.Errorf("must list from 1 to %d networks", maxRealIPCIDRs)
	}
	g.RealIPFrom = out
	return nil
}

// checkNginxTime checks an nginx time of 1ms to maxMS milliseconds.
func checkNginxTime(v string, maxMS int64) error {
	bad := errors.New("not an nginx time")
	rest, last := v, -1
	var total int64
	if rest == "" {
		return bad
	}
	for rest != "" {
		m := nginxTimePart.FindStringSubmatch(rest)
		if m == nil {
			return bad
		}
		suffix := m[2]
		if suffix == "" {
			if len(m[0]) != len(rest) {
				return bad // only the last part may omit its unit
			}
			suffix = "s" // nginx reads a bare number as seconds
		}
		i := slices.IndexFunc(nginxTimeUnits, func(u timeUnit) bool { return u.suffix == suffix })
		if i <= last {
			return bad
		}
		last = i
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			return bad
		}
		total += n * nginxTimeUnits[i].ms
		rest = rest[len(m[0]):]
	}
	if total <= 0 || total > maxMS {
		return bad
	}
	return nil
}

// applyConfigMap reads the options ConfigMap into b.global. A bad value is
// a finding on the ConfigMap and the default stays; unknown keys are
// reported so a typo does not go unnoticed.
func (b *builder) applyConfigMap(cms []*corev1.ConfigMap) {
	spec := b.opts.ConfigMap
	if spec == "" {
		return
	}
	namespace, name, _ := strings.Cut(spec, "/")
	ref := ObjectRef{Kind: "ConfigMap", Namespace: namespace, Name: name}
	var cm *corev1.ConfigMap
	for _, c := range cms {
		if c.Namespace == namespace && c.Name == name {
			cm = c
			break
		}
	}
	if cm == nil {
		b.ignored(ref, ReasonConfigMapNotFound, "options ConfigMap %s not found; using the defaults", spec)
		return
	}
	ref.UID = string(cm.UID)
	if ex := b.opts.ExcludedConfigMap; ex != nil && SameVersion(ex.ConfigMap, cm) {
		// Its lines made nginx -t refuse the whole config: the version
		// last live keeps serving, so nobody's changes wait for a fix.
		last := b.opts.LastConfigMap
		if last == nil || SameVersion(last, cm) {
			b.notServed(ref, ReasonNginxRejected, "nginx -t refused the configuration lines its options make: %s; using the defaults until it changes", ex.Message)
			b.modSecurityRefused(ref, cm)
			return
		}
		b.notServed(ref, ReasonNginxRejected, "nginx -t refused the configuration lines its options make: %s; still applying its last accepted version until it changes", ex.Message)
		cm = last
	}
	b.configMapApplied = cm
	table := GlobalOptions()
	values := make(map[string]string, len(cm.Data))
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if strings.HasPrefix(k, annotations.GlobalAuthPrefix) || k == noAuthLocationsKey {
			continue // applyGlobalAuth reads them together, misspelt ones too
		}
		i := slices.IndexFunc(table, func(o GlobalOption) bool { return o.Key == k })
		if i < 0 {
			b.ignored(ref, ReasonUnknownOption, "unknown key %q is ignored; see docs/configmap.md for the supported keys", excerpt.Of(k))
			continue
		}
		v := strings.TrimSpace(cm.Data[k])
		err := table[i].apply(b.global, v)
		if err == nil {
			values[k] = v
			continue
		}
		if last, ok := b.lastValue(table[i], cm); ok {
			values[k] = last
			b.ignored(ref, ReasonInvalidOption, "%s: value %q %v; keeping the last accepted value %q",
				k, excerpt.Of(cm.Data[k]), err, excerpt.Of(last))
			continue
		}
		if table[i].failClosed != nil {
			why := fmt.Sprintf("%s: value %q %v", k, excerpt.Of(cm.Data[k]), err)
			table[i].failClosed(b.global, why)
			b.ignored(ref, ReasonInvalidOption, "%s; there is no accepted value to keep and, as a security control, it does not fall back to its default", why)
			continue
		}
		b.ignored(ref, ReasonInvalidOption, "%s: value %q %v; keeping the default %s",
			k, excerpt.Of(cm.Data[k]), err, table[i].Default)
	}
	b.configMapValues = values
	b.global.HSTS = hstsHeader(cm.Data, ref, b)
	b.applyGlobalAuth(cm, ref)
	b.modSecurityAll(ref)
	g := b.global
	g.LogFormatEscape = logFormatEscape(g)
	if (g.UseForwardedHeaders || g.EnableRealIP || g.ProxyProtocol) && len(g.RealIPFrom) == 0 {
		// Fail closed: ingress-nginx's default 0.0.0.0/0 would let any
		// client choose the address allowlists and rate limits see.
		b.ignored(ref, ReasonIneffectiveOption, "use-forwarded-headers, enable-real-ip or use-proxy-protocol is on but proxy-real-ip-cidr lists no network: no forwarded or PROXY header is trusted and the client address stays the connecting one; list your load balancers' networks in proxy-real-ip-cidr")
	}
}

// lastValue applies, for a KeepLast option whose value in cm is bad, the
// value in effect for the key in the live config (Options.LastConfigMapValues)
// and returns it: one mechanism for every key that keeps its previous value.
// It reads the value the live config applied, kept ones included, not the
// live ConfigMap's text, so that a value stays through any number of bad
// edits; and only when the live config applied the same object (a ConfigMap
// deleted and made again starts from the defaults). False when there is none
// or it fails the check now, and the default stays.
func (b *builder) lastValue(o GlobalOption, cm *corev1.ConfigMap) (string, bool) {
	last := b.opts.LastConfigMap
	if !o.KeepLast || last == nil || last.UID != cm.UID || last.Namespace != cm.Namespace || last.Name != cm.Name {
		return "", false
	}
	v, ok := b.opts.LastConfigMapValues[o.Key]
	if !ok || o.apply(b.global, v) != nil {
		return "", false
	}
	return v, true
}

// realIP derives the realip configuration from the forwarded header
// options; nil when no header is trusted.
func realIP(g *Global) *RealIP {
	if len(g.RealIPFrom) == 0 || !(g.UseForwardedHeaders || g.EnableRealIP || g.ProxyProtocol) {
		return nil
	}
	r := &RealIP{Header: g.ForwardedForHeader, From: g.RealIPFrom, TrustForwarded: g.UseForwardedHeaders, PeerVariable: "$realip_remote_addr"}
	if g.ProxyProtocol {
		r.Header = "proxy_protocol"
		r.PeerVariable = "$proxy_protocol_addr"
	}
	if g.ComputeFullForwardedFor {
		r.FullForwardedFor = "$http_" + strings.ReplaceAll(strings.ToLower(g.ForwardedForHeader), "-", "_")
	}
	return r
}

// hstsHeader builds the Strict-Transport-Security value from the hsts keys.
func hstsHeader(data map[string]string, ref ObjectRef, b *builder) string {
	flag := func(key string, def bool) bool {
		v, ok := data[key]
		if !ok {
			return def
		}
		parsed, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			b.ignored(ref, ReasonInvalidOption, "%s: value %q must be true or false; keeping the default %t", key, excerpt.Of(v), def)
			return def
		}
		return parsed
	}
	if !flag("hsts", true) {
		return ""
	}
	maxAge := 31536000
	if v, ok := data["hsts-max-age"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			b.ignored(ref, ReasonInvalidOption, "hsts-max-age: value %q must be a whole number of seconds; keeping the default 31536000", excerpt.Of(v))
		} else {
			maxAge = n
		}
	}
	h := "max-age=" + strconv.Itoa(maxAge)
	if flag("hsts-include-subdomains", true) {
		h += "; includeSubDomains"
	}
	if flag("hsts-preload", false) {
		h += "; preload"
	}
	return h
}
