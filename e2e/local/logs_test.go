//go:build linux

package local

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// logsConfigMap is the options ConfigMap default/portico with data, one
// "key: value" a line (values quoted by the caller where YAML needs it).
func logsConfigMap(data ...string) string {
	return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n  " +
		strings.Join(data, "\n  ") + "\n"
}

// startLogsController starts a controller whose log directory (--log-dir)
// is dir, with the ConfigMap cm and an Ingress for host routed to app.
func startLogsController(t *testing.T, dir, host, cm string) *controller {
	t.Helper()
	b := startBackends(t, "app")
	c := startController(t, options{
		files: map[string]string{
			"services.yaml":  servicesYAML(b),
			"app.yaml":       ingressYAML("shop", host, route{"/", "Prefix", "app"}),
			"configmap.yaml": cm,
		},
		args: []string{"--configmap", "default/portico", "--log-dir", dir},
	})
	c.WaitServed(t, host, "/", "app")
	return c
}

// logLines waits until a line of file holds marker and returns the file's
// lines, but for those of the requests to "/" that wait for the Ingress to
// be served.
func logLines(t *testing.T, file, marker string) []string {
	t.Helper()
	logLine(t, file, marker)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if !strings.HasPrefix(l, "uri=/ ") {
			out = append(out, l)
		}
	}
	return out
}

// TestLogKeys shows the log keys of the options ConfigMap on real traffic,
// each access log in a file of the test's --log-dir (access-log-path).
func TestLogKeys(t *testing.T) {
	t.Parallel()

	// log-format-escape-json: a JSON format stays JSON whatever the client
	// sends; nginx's default escaping (\x22) would not parse. Then
	// log-format-escape-none.
	t.Run("escape-json", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		logFile := filepath.Join(dir, "access.log")
		c := startLogsController(t, dir, "json.example.com", logsConfigMap(
			`log-format-upstream: '{"uri": "$request_uri", "ua": "$http_user_agent", "status": $status, "ns": "$namespace"}'`,
			`log-format-escape-json: "true"`,
			"access-log-path: "+logFile))
		const agent = `curl "quoted" \ back` + "\tslash"
		r := c.getWith(t, "json.example.com", "/json-marker", map[string]string{"User-Agent": agent})
		require.Equal(t, http.StatusOK, r.Status, "%s", r)
		line := logLine(t, logFile, "/json-marker")
		var entry struct {
			URI, UA, NS string
			Status      int
		}
		require.NoError(t, json.Unmarshal([]byte(line), &entry), "not JSON: %s", line)
		assert.Equal(t, "/json-marker", entry.URI)
		assert.Equal(t, agent, entry.UA)
		assert.Equal(t, http.StatusOK, entry.Status)
		assert.Equal(t, "default", entry.NS)

		// log-format-escape-none wins over escape-json: the agent is
		// written as sent, and the line is no longer JSON.
		c.update(t, "configmap.yaml", logsConfigMap(
			`log-format-upstream: '{"uri": "$request_uri", "ua": "$http_user_agent", "status": $status, "ns": "$namespace"}'`,
			`log-format-escape-json: "true"`, `log-format-escape-none: "true"`,
			"access-log-path: "+logFile))
		r = c.getWith(t, "json.example.com", "/none-marker", map[string]string{"User-Agent": agent})
		require.Equal(t, http.StatusOK, r.Status, "%s", r)
		line = logLine(t, logFile, "/none-marker")
		assert.Equal(t, `{"uri": "/none-marker", "ua": "`+agent+`", "status": 200, "ns": "default"}`, line)
	})

	// skip-access-log-urls: the listed request URIs are not logged; the
	// same path with a query, and other paths, are.
	t.Run("skip-access-log-urls", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		logFile := filepath.Join(dir, "access.log")
		c := startLogsController(t, dir, "skip.example.com", logsConfigMap(
			"log-format-upstream: 'uri=$request_uri status=$status'",
			"skip-access-log-urls: /healthz, /ready",
			"access-log-path: "+logFile))
		// One worker logs in the order it answers: once the marker is in
		// the file, the skipped requests before it would be too.
		for _, p := range []string{"/healthz", "/ready", "/HEALTHZ", "/healthz", "/healthz?full=1", "/healthz/deep", "/skip-marker"} {
			require.Equal(t, http.StatusOK, c.Get(t, "skip.example.com", p).Status, p)
		}
		lines := logLines(t, logFile, "/skip-marker")
		assert.Equal(t, []string{"uri=/healthz?full=1 status=200", "uri=/healthz/deep status=200", "uri=/skip-marker status=200"}, lines,
			"/healthz and /ready (in any case, as nginx's map compares) are left out")
	})

	// access-log-path and error-log-path write to the files named; a path
	// whose directory does not exist makes nginx -t refuse the ConfigMap,
	// whose last accepted version keeps logging where it did; a path
	// outside --log-dir is refused by the model and the last value stays.
	t.Run("paths", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		require.NoError(t, os.Mkdir(filepath.Join(dir, "nginx"), 0o755))
		accessFile := filepath.Join(dir, "nginx", "access.log")
		errorFile := filepath.Join(dir, "nginx", "error.log")
		cm := func(access string, extra ...string) string {
			return logsConfigMap(append([]string{
				"log-format-upstream: 'uri=$request_uri'",
				"access-log-path: " + access,
				"error-log-path: " + errorFile,
				"error-log-level: info",
			}, extra...)...)
		}
		c := startLogsController(t, dir, "paths.example.com", cm(accessFile))
		require.Equal(t, http.StatusOK, c.Get(t, "paths.example.com", "/paths-marker-1").Status)
		assert.Equal(t, "uri=/paths-marker-1", logLine(t, accessFile, "/paths-marker-1"))
		// nginx's master writes its notices (the reload that applied the
		// ConfigMap: "start worker processes") to the new error log.
		var content string
		framework.Eventually(t, func() bool {
			data, err := os.ReadFile(errorFile)
			content = string(data)
			return err == nil && strings.Contains(content, "[notice]")
		}, "a notice line in %s: %q", errorFile, &content)

		missing := filepath.Join(dir, "missing", "access.log")
		c.writeManifest(t, "configmap.yaml", cm(missing))
		c.waitLog(t, "NginxRejected", "ConfigMap default/portico")
		require.Equal(t, http.StatusOK, c.Get(t, "paths.example.com", "/paths-marker-2").Status)
		assert.Equal(t, "uri=/paths-marker-2", logLine(t, accessFile, "/paths-marker-2"), "the last accepted version keeps logging")
		_, err := os.Stat(filepath.Dir(missing))
		assert.ErrorIs(t, err, os.ErrNotExist)
		assert.NotContains(t, string(c.MustStatusGet(t, "/debug/config")), missing, "the live config")

		c.update(t, "configmap.yaml", cm("/etc/portico-e2e-outside.log", "enable-access-log-for-default-backend: \"true\""))
		c.waitLog(t, "InvalidOption", "access-log-path", "keeping the last accepted value")
		require.Equal(t, http.StatusOK, c.Get(t, "paths.example.com", "/paths-marker-3").Status)
		assert.Equal(t, "uri=/paths-marker-3", logLine(t, accessFile, "/paths-marker-3"), "a refused path keeps the last one")
		_, err = os.Stat("/etc/portico-e2e-outside.log")
		assert.ErrorIs(t, err, os.ErrNotExist)
	})

	// enable-access-log-for-default-backend: what the default server
	// answers (here 404 for an unknown host) is logged only when enabled;
	// the Ingress's requests always are.
	t.Run("default-backend", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		logFile := filepath.Join(dir, "access.log")
		cm := func(enable string) string {
			return logsConfigMap("log-format-upstream: 'uri=$request_uri status=$status'",
				"access-log-path: "+logFile, "enable-access-log-for-default-backend: \""+enable+"\"")
		}
		c := startLogsController(t, dir, "db.example.com", cm("false"))
		require.Equal(t, http.StatusNotFound, c.Get(t, "unknown.example.com", "/db-off-marker").Status)
		require.Equal(t, http.StatusOK, c.Get(t, "db.example.com", "/db-routed-marker-1").Status)
		lines := logLines(t, logFile, "/db-routed-marker-1")
		assert.Equal(t, []string{"uri=/db-routed-marker-1 status=200"}, lines, "the default server's 404 is not logged")

		c.update(t, "configmap.yaml", cm("true"))
		require.Equal(t, http.StatusNotFound, c.Get(t, "unknown.example.com", "/db-on-marker").Status)
		require.Equal(t, http.StatusOK, c.Get(t, "db.example.com", "/db-routed-marker-2").Status)
		lines = logLines(t, logFile, "/db-routed-marker-2")
		assert.Equal(t, []string{"uri=/db-routed-marker-1 status=200", "uri=/db-on-marker status=404", "uri=/db-routed-marker-2 status=200"}, lines)
	})
}
