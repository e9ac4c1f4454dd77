//go:build linux

package local

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// generatedTraceparent is a traceparent Portico makes: version 00, the
// trace-id, the parent-id (the trace-id's last 16 digits), sampled.
var generatedTraceparent = regexp.MustCompile(`^00-([0-9a-f]{16}([0-9a-f]{16}))-([0-9a-f]{16})-01$`)

// traceInputs are traceparent headers a client may send, and whether a
// version-00 reader must take each (W3C Trace Context, "traceparent
// header"): the valid ones are passed on unchanged, every other is
// replaced.
var traceInputs = []struct {
	name, value string
	valid       bool
}{
	{"sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
	{"not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true},
	{"unknown flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff", true},
	{"later version", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
	{"later version with a field", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-0a0b", true},
	{"upper-case trace-id", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
	{"upper-case flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A", false},
	{"zero trace-id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
	{"zero parent-id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
	{"short trace-id", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", false},
	{"long parent-id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b70-01", false},
	{"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
	{"version 00 with a field", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-00", false},
	{"version 00 with a dash", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", false},
	{"text after", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 evil", false},
	{"list", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
	{"not hex", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", false},
	{"later version, odd field", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-XYZ", false},
	{"later version, no dash", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false},
	{"later version too long", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-" + strings.Repeat("a", 457), false},
	{"bad version", "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
	{"other separators", "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01", false},
	{"quote", `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"`, false},
	{"absent", "", false},
}

// TestTraceContext shows W3C Trace Context on real traffic through nginx:
// each traceparent in traceInputs reaches the backend unchanged with its
// tracestate when valid, else is replaced by a generated one whose
// trace-id is the X-Request-ID nginx sends, without tracestate; the
// external auth service gets the same; the access log names it
// ($traceparent, $trace_id). trust-incoming-traceparent off replaces even
// valid ones; generate-traceparent off sends none in their place.
func TestTraceContext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name            string
		trust, generate bool
	}{
		{"default", true, true},
		{"untrusted", false, true},
		{"not generated", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBackends(t, "app")
			var mu sync.Mutex
			authSaw := map[string]string{} // traceparent the auth service got, by X-Marker
			auth := serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				authSaw[r.Header.Get("X-Marker")] = strings.Join(r.Header.Values("Traceparent"), ", ")
				mu.Unlock()
				w.WriteHeader(http.StatusOK)
			}))
			logFile := filepath.Join(t.TempDir(), "access.log")
			cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n" +
				"  log-format-upstream: 'trace uri=$request_uri tp=$traceparent tid=$trace_id rid=$req_id'\n" +
				fmt.Sprintf("  trust-incoming-traceparent: %q\n  generate-traceparent: %q\n",
					strconv.FormatBool(tc.trust), strconv.FormatBool(tc.generate))
			c := startController(t, options{
				args: []string{"--configmap", "default/portico", "--access-log", logFile},
				files: map[string]string{
					"services.yaml":  servicesYAML(b),
					"app.yaml":       ingressYAML("app", "trace.example.com", route{"/", "Prefix", "app"}),
					"configmap.yaml": cm,
					"authed.yaml": annotate(ingressYAML("authed", "auth.trace.example.com", route{"/", "Prefix", "app"}), map[string]string{
						"nginx.ingress.kubernetes.io/auth-url": "http://" + auth.String() + "/verify",
					}),
				},
			})
			c.WaitServed(t, "trace.example.com", "/", "app")
			require.Eventually(t, func() bool {
				return authRequest(t, c, "auth.trace.example.com", "/", nil).Status == http.StatusOK
			}, framework.RouteTimeout, framework.PollInterval)

			for i, in := range traceInputs {
				for _, host := range []string{"trace.example.com", "auth.trace.example.com"} {
					marker := fmt.Sprintf("/trace-%d-%s", i, strings.SplitN(host, ".", 2)[0])
					header := map[string]string{"X-Marker": marker, "Tracestate": "vendor=opaque"}
					if in.value != "" {
						header["Traceparent"] = in.value
					}
					r := authRequest(t, c, host, marker, header)
					require.Equal(t, http.StatusOK, r.Status, "%s %s: %s", in.name, host, r)
					require.NotNil(t, r.Echo, "%s %s: %s", in.name, host, r)
					got, has := r.Echo.Headers["Traceparent"]
					state, hasState := r.Echo.Headers["Tracestate"]
					id := r.Echo.Headers["X-Request-Id"]
					switch {
					case in.valid && tc.trust:
						assert.Equal(t, in.value, got, "%s %s: a valid traceparent is passed on unchanged", in.name, host)
						assert.Equal(t, "vendor=opaque", state, "%s %s: with its tracestate", in.name, host)
					case tc.generate:
						m := generatedTraceparent.FindStringSubmatch(got)
						if assert.NotNil(t, m, "%s %s: a generated traceparent, got %q", in.name, host, got) {
							assert.Equal(t, id, m[1], "%s %s: the trace-id is the request ID sent", in.name, host)
							assert.Equal(t, m[2], m[3], "%s %s: the parent-id is the trace-id's last 16 digits", in.name, host)
						}
						assert.False(t, hasState, "%s %s: no tracestate with a new traceparent, got %q", in.name, host, state)
					default:
						assert.False(t, has, "%s %s: nothing passed on, got %q", in.name, host, got)
						assert.False(t, hasState, "%s %s: no tracestate either, got %q", in.name, host, state)
					}
					if host != "trace.example.com" {
						mu.Lock()
						assert.Equal(t, got, authSaw[marker], "%s: the auth service gets the backend's traceparent", in.name)
						mu.Unlock()
					}
					line := logLine(t, logFile, "uri="+marker+" ")
					tid := ""
					if len(got) >= 35 {
						tid = got[3:35]
					}
					assert.Equal(t, fmt.Sprintf("trace uri=%s tp=%s tid=%s rid=%s", marker, got, tid, id), line,
						"%s %s: the access log names what the backend got (nothing when it got none)", in.name, host)
				}
			}

			// Bytes Go's client will not send: nginx passes control
			// characters other than NUL and CR on in header values.
			const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			raw := mustRawGet(t, c, "127.0.0.1", "", "trace.example.com", "/raw-ctl",
				map[string]string{"traceparent": valid + "\x01", "tracestate": "a=1"})
			if assert.NotNil(t, raw.Echo, "%s", raw) {
				assert.NotContains(t, raw.Echo.Headers["Traceparent"], "\x01", "a control character is never passed on")
				_, hasState := raw.Echo.Headers["Tracestate"]
				assert.False(t, hasState, "nor the tracestate of a replaced traceparent")
			}
			raw = mustRawGet(t, c, "127.0.0.1", "", "trace.example.com", "/raw-state",
				map[string]string{"traceparent": valid, "tracestate": "a=1\x01,b=2"})
			if assert.NotNil(t, raw.Echo, "%s", raw) {
				_, hasState := raw.Echo.Headers["Tracestate"]
				assert.False(t, hasState, "a tracestate with a control character is dropped")
				if tc.trust {
					assert.Equal(t, valid, raw.Echo.Headers["Traceparent"])
				}
			}
			raw = mustRawGet(t, c, "127.0.0.1", "", "trace.example.com", "/raw-cr",
				map[string]string{"traceparent": valid + "\rX: y"})
			assert.Equal(t, http.StatusBadRequest, raw.Status, "nginx refuses a lone CR: %s", raw)

			// A client's X-Request-ID is passed on, but a trace-id must be random.
			r := c.getWith(t, "trace.example.com", "/own-id", map[string]string{"X-Request-Id": "client-chosen-1"})
			require.NotNil(t, r.Echo, "%s", r)
			assert.Equal(t, "client-chosen-1", r.Echo.Headers["X-Request-Id"])
			if tc.generate {
				assert.Regexp(t, generatedTraceparent, r.Echo.Headers["Traceparent"])
			}
		})
	}
}
