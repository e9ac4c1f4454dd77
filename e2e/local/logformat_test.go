//go:build linux

package local

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// ingressNginxLine is a line of ingress-nginx's default log format, with
// groups for the request, the status, $proxy_upstream_name,
// $proxy_alternative_upstream_name, $upstream_status and $req_id.
var ingressNginxLine = regexp.MustCompile(`^\S+ - \S+ \[[^\]]+\] "([^"]*)" (\d{3}) \d+ "[^"]*" "[^"]*" \d+ [\d.]+ ` +
	`\[([^\]]*)\] \[([^\]]*)\] \S+ \S+ \S+ (\S+) (\S+)$`)

// TestAccessLogFormats shows the access log as nginx writes it for real
// requests: by default in ingress-nginx's format, with ingress-nginx's
// upstream name; and with a log-format-upstream that names ingress-nginx's
// per-location variables, their values for the Ingress, and the default
// server's for a request no Ingress routes.
func TestAccessLogFormats(t *testing.T) {
	t.Parallel()
	t.Run("default", func(t *testing.T) {
		t.Parallel()
		b := startBackends(t, "app")
		logFile := filepath.Join(t.TempDir(), "access.log")
		c := startController(t, options{
			files: map[string]string{
				"services.yaml": servicesYAML(b),
				"app.yaml":      ingressYAML("shop", "log.example.com", route{"/", "Prefix", "app"}),
			},
			args: []string{"--access-log", logFile},
		})
		c.WaitServed(t, "log.example.com", "/", "app")
		r := c.getWith(t, "log.example.com", "/default-marker", map[string]string{"X-Request-Id": "trace-1"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r)

		line := logLine(t, logFile, "/default-marker")
		m := ingressNginxLine.FindStringSubmatch(line)
		require.NotNil(t, m, "not ingress-nginx's format: %q", line)
		assert.Equal(t, "GET /default-marker HTTP/1.1", m[1])
		assert.Equal(t, "200", m[2])
		assert.Equal(t, "default-app-80", m[3], "$proxy_upstream_name is namespace-service-port")
		assert.Equal(t, "", m[4], "$proxy_alternative_upstream_name")
		assert.Equal(t, "200", m[5], "$upstream_status")
		assert.Equal(t, "trace-1", m[6], "$req_id")
	})
	t.Run("per-location variables", func(t *testing.T) {
		t.Parallel()
		b := startBackends(t, "app")
		logFile := filepath.Join(t.TempDir(), "access.log")
		cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n" +
			"  log-format-upstream: 'vars ns=$namespace ing=$ingress_name svc=$service_name port=$service_port up=$proxy_upstream_name ip=$the_real_ip uri=$request_uri'\n" +
			"  enable-access-log-for-default-backend: \"true\"\n"
		c := startController(t, options{
			args: []string{"--configmap", "default/portico", "--access-log", logFile},
			files: map[string]string{
				"services.yaml":  servicesYAML(b),
				"app.yaml":       ingressYAML("shop", "vars.example.com", route{"/", "Prefix", "app"}),
				"configmap.yaml": cm,
			},
		})
		c.WaitServed(t, "vars.example.com", "/", "app")
		require.Equal(t, http.StatusOK, c.Get(t, "vars.example.com", "/vars-marker").Status)
		assert.Equal(t, "vars ns=default ing=shop svc=app port=80 up=default-app-80 ip=127.0.0.1 uri=/vars-marker",
			logLine(t, logFile, "/vars-marker"))
		require.Equal(t, http.StatusNotFound, c.Get(t, "nobody.example.com", "/unrouted-marker").Status)
		assert.Equal(t, "vars ns=- ing=- svc=- port=- up=upstream-default-backend ip=127.0.0.1 uri=/unrouted-marker",
			logLine(t, logFile, "/unrouted-marker"), "the default server's values are ingress-nginx's")
	})
}

// logLine waits for the access log line that holds marker and returns it.
func logLine(t *testing.T, file, marker string) string {
	t.Helper()
	var line string
	require.Eventually(t, func() bool {
		data, err := os.ReadFile(file)
		if err != nil {
			return false
		}
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, marker) {
				line = l
				return true
			}
		}
		return false
	}, framework.RouteTimeout, framework.PollInterval, "a line with %s in %s", marker, file)
	return line
}
