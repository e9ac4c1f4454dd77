package annotations

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// Proxy is how nginx talks to the backends of an Ingress. Empty fields
// keep the global value (ConfigMap or default), so only what an Ingress
// changes is written into its locations.
type Proxy struct {
	// ConnectTimeout is proxy_connect_timeout, e.g. "5s".
	ConnectTimeout string `json:"connectTimeout,omitempty"`
	// ReadTimeout is proxy_read_timeout.
	ReadTimeout string `json:"readTimeout,omitempty"`
	// SendTimeout is proxy_send_timeout.
	SendTimeout string `json:"sendTimeout,omitempty"`
	// BodySize is client_max_body_size.
	BodySize string `json:"bodySize,omitempty"`
	// ClientBodyBufferSize is client_body_buffer_size.
	ClientBodyBufferSize string `json:"clientBodyBufferSize,omitempty"`
	// Buffering is proxy_buffering ("on" or "off").
	Buffering string `json:"buffering,omitempty"`
	// BufferSize is proxy_buffer_size; proxy_buffers are 4 of this size.
	BufferSize string `json:"bufferSize,omitempty"`
	// BusyBuffersSize is proxy_busy_buffers_size, twice BufferSize: nginx
	// requires it to be at least one buffer and less than all but one.
	BusyBuffersSize string `json:"busyBuffersSize,omitempty"`
	// RequestBuffering is proxy_request_buffering ("on" or "off").
	RequestBuffering string `json:"requestBuffering,omitempty"`
	// HTTPVersion is proxy_http_version ("1.0" or "1.1").
	HTTPVersion string `json:"httpVersion,omitempty"`
	// NextUpstream are the proxy_next_upstream conditions.
	NextUpstream []string `json:"nextUpstream,omitempty"`
	// NextUpstreamTries is proxy_next_upstream_tries ("0" means no limit).
	NextUpstreamTries string `json:"nextUpstreamTries,omitempty"`
	// NextUpstreamTimeout is proxy_next_upstream_timeout.
	NextUpstreamTimeout string `json:"nextUpstreamTimeout,omitempty"`
}

// printed lists, for the fields that are set, the location directives
// the template prints and the annotation each comes from: a
// configuration-snippet may not set them again (nginx -t refuses a
// duplicate in one block). Keep it in step with the "proxy" template;
// pkg/render's snippet tests check every pair with nginx -t.
func (p Proxy) printed() [][2]string {
	var out [][2]string
	add := func(v, directive, key string) {
		if v != "" {
			out = append(out, [2]string{directive, key})
		}
	}
	add(p.ConnectTimeout, "proxy_connect_timeout", "proxy-connect-timeout")
	add(p.ReadTimeout, "proxy_read_timeout", "proxy-read-timeout")
	add(p.SendTimeout, "proxy_send_timeout", "proxy-send-timeout")
	add(p.BodySize, "client_max_body_size", "proxy-body-size")
	add(p.ClientBodyBufferSize, "client_body_buffer_size", "client-body-buffer-size")
	add(p.Buffering, "proxy_buffering", "proxy-buffering")
	add(p.BufferSize, "proxy_buffer_size", "proxy-buffer-size")
	add(p.BufferSize, "proxy_buffers", "proxy-buffer-size")
	add(p.BusyBuffersSize, "proxy_busy_buffers_size", "proxy-buffer-size")
	add(p.RequestBuffering, "proxy_request_buffering", "proxy-request-buffering")
	add(p.HTTPVersion, "proxy_http_version", "proxy-http-version")
	if len(p.NextUpstream) > 0 {
		out = append(out, [2]string{"proxy_next_upstream", "proxy-next-upstream"})
	}
	add(p.NextUpstreamTries, "proxy_next_upstream_tries", "proxy-next-upstream-tries")
	add(p.NextUpstreamTimeout, "proxy_next_upstream_timeout", "proxy-next-upstream-timeout")
	return out
}

var (
	secondsValue = regexp.MustCompile(`^[0-9]{1,6}$`)
	sizeValue    = regexp.MustCompile(`^[0-9]{1,9}[kKmMgG]?$`)
	// bufferValue: nginx buffer sizes know only k and m, are never 0, and
	// stay small: 1k to 9999k, 1m to 9m, or 1000 to 9999999 bytes.
	bufferValue = regexp.MustCompile(`^[1-9][0-9]{0,3}[kK]$|^[1-9][mM]$|^[1-9][0-9]{3,6}$`)
)

// buffer accepts a buffer size nginx can allocate per request.
func buffer(set func(*Proxy, string)) func(string, *Set) error {
	return func(v string, s *Set) error {
		if !bufferValue.MatchString(v) {
			return errors.New("is not a buffer size from 1000 bytes (or 1k) to 9m")
		}
		set(&s.Proxy, strings.ToLower(v))
		return nil
	}
}

func seconds(set func(*Proxy, string)) func(string, *Set) error {
	return func(v string, s *Set) error {
		t, err := nginxTime(v)
		if err != nil {
			return err
		}
		set(&s.Proxy, t)
		return nil
	}
}

// timePart is one "<number><unit>" of an nginx time ("1h30m" has two).
var timePart = regexp.MustCompile(`^([0-9]{1,7})(ms|s|m|h|d|w|M|y)`)

// timeUnitsMs are nginx's time units (ngx_parse_time) in milliseconds.
var timeUnitsMs = map[string]int64{"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000,
	"d": 86_400_000, "w": 7 * 86_400_000, "M": 30 * 86_400_000, "y": 365 * 86_400_000}

// maxTimeMs bounds a timeout at 999999 seconds (about 11.5 days), the
// largest whole-seconds value accepted before units were.
const maxTimeMs = 999_999_000

// nginxTime parses a whole number of seconds or an nginx time with units
// ("1800s", "30m", "1h30m", "500ms"), as ingress-nginx users write them and
// nginx itself reads them, and prints it back canonically ("1800s",
// "500ms"): only digits and one unit reach nginx.conf.
func nginxTime(v string) (string, error) {
	bad := errors.New("is not a time: whole seconds, or nginx units such as 1800s, 30m, 1h30m, 500ms (at most 999999s)")
	if secondsValue.MatchString(v) {
		return v + "s", nil
	}
	if v == "" {
		return "", bad
	}
	var total int64
	for rest := v; rest != ""; {
		m := timePart.FindStringSubmatch(rest)
		if m == nil {
			return "", bad
		}
		n, _ := strconv.ParseInt(m[1], 10, 64) // at most 7 digits
		total += n * timeUnitsMs[m[2]]
		if total > maxTimeMs {
			return "", bad
		}
		rest = rest[len(m[0]):]
	}
	if total%1000 == 0 {
		return strconv.FormatInt(total/1000, 10) + "s", nil
	}
	return strconv.FormatInt(total, 10) + "ms", nil
}

func size(set func(*Proxy, string)) func(string, *Set) error {
	return func(v string, s *Set) error {
		if !sizeValue.MatchString(v) {
			return errors.New("is not an nginx size")
		}
		set(&s.Proxy, v)
		return nil
	}
}

func onOff(set func(*Proxy, string)) func(string, *Set) error {
	return func(v string, s *Set) error {
		switch strings.ToLower(v) {
		case "on", "true":
			set(&s.Proxy, "on")
		case "off", "false":
			set(&s.Proxy, "off")
		default:
			return errors.New("is not on or off")
		}
		return nil
	}
}

// nextUpstreamConditions are the values proxy_next_upstream accepts.
var nextUpstreamConditions = []string{"error", "timeout", "invalid_header", "http_500", "http_502",
	"http_503", "http_504", "http_403", "http_404", "http_429", "non_idempotent", "off"}

func proxyFields() []Field {
	return fallBack(inGroup("proxy", []Field{
		{Key: "proxy-connect-timeout", Default: "5 (ConfigMap)", Allowed: "whole seconds or nginx time (1800s, 30m, 1h30m, 500ms)", Risk: RiskLow,
			Doc:   "seconds to wait for a connection to a backend",
			apply: seconds(func(p *Proxy, v string) { p.ConnectTimeout = v })},
		{Key: "proxy-read-timeout", Default: "60 (ConfigMap)", Allowed: "whole seconds or nginx time (1800s, 30m, 1h30m, 500ms)", Risk: RiskLow,
			Doc:   "seconds between two reads from a backend",
			apply: seconds(func(p *Proxy, v string) { p.ReadTimeout = v })},
		{Key: "proxy-send-timeout", Default: "60 (ConfigMap)", Allowed: "whole seconds or nginx time (1800s, 30m, 1h30m, 500ms)", Risk: RiskLow,
			Doc:   "seconds between two writes to a backend",
			apply: seconds(func(p *Proxy, v string) { p.SendTimeout = v })},
		{Key: "proxy-body-size", Default: "1m (ConfigMap)", Allowed: "nginx size: 8k, 1m, 0 (no limit)", Risk: RiskMedium,
			Doc:   "largest request body accepted",
			apply: size(func(p *Proxy, v string) { p.BodySize = v })},
		{Key: "client-body-buffer-size", Default: "8k (ConfigMap)", Allowed: "1k to 9m (k or m suffix), or 1000 to 9999999 bytes", Risk: RiskLow,
			Doc:   "request body size kept in memory",
			apply: buffer(func(p *Proxy, v string) { p.ClientBodyBufferSize = v })},
		{Key: "proxy-buffering", Default: "off", Allowed: "on, off", Risk: RiskLow,
			Doc:   "buffer responses from the backend",
			apply: onOff(func(p *Proxy, v string) { p.Buffering = v })},
		{Key: "proxy-buffer-size", Default: "4k", Allowed: "1k to 9m (k or m suffix), or 1000 to 9999999 bytes", Risk: RiskLow,
			Doc: "buffer for the first part of a backend response (headers); proxy_buffers follow it",
			apply: buffer(func(p *Proxy, v string) {
				p.BufferSize = v
				n, _ := strconv.Atoi(strings.TrimRight(v, "km")) // the pattern guarantees digits
				p.BusyBuffersSize = strconv.Itoa(2*n) + strings.TrimLeft(v, "0123456789")
			})},
		{Key: "proxy-request-buffering", Default: "on", Allowed: "on, off", Risk: RiskLow,
			Doc:   "read the whole request body before proxying",
			apply: onOff(func(p *Proxy, v string) { p.RequestBuffering = v })},
		{Key: "proxy-http-version", Default: "1.1", Allowed: "1.0, 1.1", Risk: RiskLow,
			Doc: "HTTP version to backends (1.1 keeps connections alive)",
			apply: func(v string, s *Set) error {
				if v != "1.0" && v != "1.1" {
					return errors.New("is not 1.0 or 1.1")
				}
				s.Proxy.HTTPVersion = v
				return nil
			}},
		{Key: "proxy-next-upstream", Default: "error timeout", Allowed: strings.Join(nextUpstreamConditions, ", ") + " (space separated)", Risk: RiskLow,
			Doc: "when to try the next endpoint",
			apply: func(v string, s *Set) error {
				fields := strings.Fields(v)
				if len(fields) == 0 {
					return errors.New("lists no condition")
				}
				for _, c := range fields {
					known := false
					for _, k := range nextUpstreamConditions {
						known = known || c == k
					}
					if !known {
						return errors.New("has an unknown condition " + strconv.Quote(excerpt.Of(c)))
					}
				}
				s.Proxy.NextUpstream = fields
				return nil
			}},
		{Key: "proxy-next-upstream-tries", Default: "3", Allowed: "0 to 100 (0: no limit)", Risk: RiskLow,
			Doc: "how many endpoints to try",
			apply: func(v string, s *Set) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 100 {
					return errors.New("is not a number from 0 to 100")
				}
				s.Proxy.NextUpstreamTries = strconv.Itoa(n)
				return nil
			}},
		{Key: "proxy-next-upstream-timeout", Default: "0 (no limit)", Allowed: "whole seconds or nginx time (1800s, 30m, 1h30m, 500ms)", Risk: RiskLow,
			Doc:   "time limit for trying further endpoints",
			apply: seconds(func(p *Proxy, v string) { p.NextUpstreamTimeout = v })},
	}))
}
