package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// buildWithConfigMap builds snap (nil for none) with the options ConfigMap
// ops/portico holding data, and the options adjusted by tune.
func buildWithConfigMap(t *testing.T, snap *snapshot.Snapshot, data map[string]string, tune func(*model.Options)) (*model.Config, []model.Finding) {
	t.Helper()
	if snap == nil {
		snap = &snapshot.Snapshot{}
	}
	snap.ConfigMaps = append(snap.ConfigMaps, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico"}, Data: data})
	opts := model.Options{ControllerClass: model.DefaultControllerClass, IngressClass: model.DefaultIngressClass,
		ConfigMap: "ops/portico", Global: model.DefaultGlobal()}
	if tune != nil {
		tune(&opts)
	}
	return model.Build(snap, opts)
}

// TestLogPaths checks access-log-path and error-log-path: the special
// targets, files in the log directories, and what is refused (with the
// default kept): other directories, Portico's own files even inside a log
// directory, nginx.conf syntax, variables, relative and unclean paths,
// syslog and memory targets.
func TestLogPaths(t *testing.T) {
	for _, c := range []struct {
		name, access, errorLog string
		logDirs                []string
		wantAccess, wantError  string
		refused                string
	}{
		{name: "defaults", wantAccess: "/dev/stdout", wantError: "stderr"},
		{name: "ingress-nginx's defaults", access: "/var/log/nginx/access.log", errorLog: "/var/log/nginx/error.log",
			wantAccess: "/var/log/nginx/access.log", wantError: "/var/log/nginx/error.log"},
		{name: "standard streams", access: "/dev/stderr", errorLog: "/dev/stdout", wantAccess: "/dev/stderr", wantError: "/dev/stdout"},
		{name: "error log to stderr", access: "/dev/stdout", errorLog: "stderr", wantAccess: "/dev/stdout", wantError: "stderr"},
		{name: "a --log-dir", access: "/data/logs/web/access.log", errorLog: "/data/logs/error.log", logDirs: []string{"/data/logs"},
			wantAccess: "/data/logs/web/access.log", wantError: "/data/logs/error.log"},
		{name: "outside the log dirs", access: "/etc/passwd", errorLog: "/data/logs/error.log",
			wantAccess: "/dev/stdout", wantError: "stderr", refused: "must be a file in /var/log"},
		{name: "the log dir itself", access: "/var/log", wantAccess: "/dev/stdout", wantError: "stderr", refused: "must be a file in"},
		{name: "Portico's own files", access: "/tmp/portico/nginx.pid", errorLog: "/tmp/portico/lua/x.lua", logDirs: []string{"/tmp"},
			wantAccess: "/dev/stdout", wantError: "stderr", refused: "holds Portico's and nginx's own files"},
		{name: "escape from the log dir", access: "/var/log/../../etc/shadow", wantAccess: "/dev/stdout", wantError: "stderr", refused: "clean"},
		{name: "relative", access: "var/log/access.log", wantAccess: "/dev/stdout", wantError: "stderr", refused: "absolute"},
		{name: "injection", access: "/var/log/a.log; error_log /etc/passwd", wantAccess: "/dev/stdout", wantError: "stderr", refused: "absolute"},
		{name: "quote", access: `/var/log/a".log`, wantAccess: "/dev/stdout", wantError: "stderr", refused: "absolute"},
		{name: "variable", access: "/var/log/$host.log", wantAccess: "/dev/stdout", wantError: "stderr", refused: "absolute"},
		{name: "off", access: "off", wantAccess: "/dev/stdout", wantError: "stderr", refused: "disable-access-log"},
		{name: "syslog", errorLog: "syslog:server=192.0.2.1:514", wantAccess: "/dev/stdout", wantError: "stderr", refused: "syslog"},
		{name: "memory", errorLog: "memory:32m", wantAccess: "/dev/stdout", wantError: "stderr", refused: "memory"},
		{name: "stderr for access_log", access: "stderr", wantAccess: "/dev/stdout", wantError: "stderr", refused: "absolute"},
	} {
		t.Run(c.name, func(t *testing.T) {
			data := map[string]string{}
			if c.access != "" {
				data["access-log-path"] = c.access
			}
			if c.errorLog != "" {
				data["error-log-path"] = c.errorLog
			}
			cfg, findings := buildWithConfigMap(t, nil, data, func(o *model.Options) { o.Global.LogDirs = c.logDirs })
			assert.Equal(t, c.wantAccess, cfg.Global.AccessLog)
			assert.Equal(t, c.wantError, cfg.Global.ErrorLog)
			if c.refused == "" {
				assert.Empty(t, findings)
				return
			}
			require.NotEmpty(t, findings)
			for _, f := range findings {
				assert.Equal(t, model.ReasonInvalidOption, f.Reason)
				assert.Contains(t, f.Message, c.refused)
				assert.Contains(t, f.Message, "keeping the default")
			}
		})
	}
}

// TestLogEscapeAndSkip checks log-format-escape-json/none (none wins, as
// in ingress-nginx) and skip-access-log-urls (trimmed, deduplicated without
// regard to case, as nginx's map compares; anything but a request URI is
// refused and the list stays empty).
func TestLogEscapeAndSkip(t *testing.T) {
	for _, c := range []struct {
		name       string
		data       map[string]string
		wantEscape string
		wantSkip   []string
		refused    string
	}{
		{name: "none", data: map[string]string{}},
		{name: "json", data: map[string]string{"log-format-escape-json": "true"}, wantEscape: "json"},
		{name: "none escape", data: map[string]string{"log-format-escape-none": "true"}, wantEscape: "none"},
		{name: "none wins", data: map[string]string{"log-format-escape-json": "true", "log-format-escape-none": "true"}, wantEscape: "none"},
		{name: "both off", data: map[string]string{"log-format-escape-json": "false", "log-format-escape-none": "false"}},
		{name: "bad escape", data: map[string]string{"log-format-escape-json": "yes"}, refused: "log-format-escape-json"},
		{name: "skip", data: map[string]string{"skip-access-log-urls": " /healthz, /ready?full=1 ,/HEALTHZ,,/metrics"},
			wantSkip: []string{"/healthz", "/ready?full=1", "/metrics"}},
		{name: "skip empty", data: map[string]string{"skip-access-log-urls": ""}},
		{name: "skip not a path", data: map[string]string{"skip-access-log-urls": "/ok,healthz"}, refused: "healthz"},
		{name: "skip regex", data: map[string]string{"skip-access-log-urls": "~^/health"}, refused: "~^/health"},
		{name: "skip quote", data: map[string]string{"skip-access-log-urls": `/a" 0; default 0; "`}, refused: "skip-access-log-urls"},
		{name: "skip variable", data: map[string]string{"skip-access-log-urls": "/$uri"}, refused: "skip-access-log-urls"},
		{name: "skip space", data: map[string]string{"skip-access-log-urls": "/a b"}, refused: "skip-access-log-urls"},
		{name: "stream format", data: map[string]string{"log-format-stream": "[$remote_addr] $protocol"}, refused: "no stream"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, findings := buildWithConfigMap(t, nil, c.data, nil)
			assert.Equal(t, c.wantEscape, cfg.Global.LogFormatEscape)
			assert.Equal(t, c.wantSkip, cfg.Global.SkipAccessLogURLs)
			if c.refused == "" {
				assert.Empty(t, findings)
				return
			}
			require.Len(t, findings, 1)
			assert.Equal(t, model.ReasonInvalidOption, findings[0].Reason)
			assert.Contains(t, findings[0].Message, c.refused)
		})
	}
}

const defaultBackendLogFixture = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: default}
spec:
  ingressClassName: portico
  rules:
  - host: web.example.com
    http: {paths: [{path: /app, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
---
apiVersion: v1
kind: Service
metadata: {name: app, namespace: default}
spec: {ports: [{port: 80}]}
`

// TestAccessLogForDefaultBackend: the default server's own fallback (404 or
// --default-backend-service) is left out of the access log unless
// enable-access-log-for-default-backend; a host's fallback, and a default
// backend an Ingress sets (spec.defaultBackend), are always logged, as in
// ingress-nginx.
func TestAccessLogForDefaultBackend(t *testing.T) {
	withDefault := defaultBackendLogFixture + `---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: catch-all, namespace: default}
spec:
  ingressClassName: portico
  defaultBackend: {service: {name: app, port: {number: 80}}}
`
	for _, c := range []struct {
		name, fixture, enable string
		wantOff               bool
	}{
		{"404, default", defaultBackendLogFixture, "", true},
		{"404, enabled", defaultBackendLogFixture, "true", false},
		{"404, disabled", defaultBackendLogFixture, "false", true},
		{"an Ingress's default backend", withDefault, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			snap, err := fixture.Parse([]byte(c.fixture))
			require.NoError(t, err)
			data := map[string]string{}
			if c.enable != "" {
				data["enable-access-log-for-default-backend"] = c.enable
			}
			cfg, findings := buildWithConfigMap(t, snap, data, nil)
			require.Empty(t, findings)
			root := findLocation(t, cfg.DefaultServer.Locations, "/")
			assert.Equal(t, c.wantOff, root.AccessLogOff, "the default server's /")
			srv := findServer(cfg, "web.example.com")
			require.NotNil(t, srv)
			assert.False(t, findLocation(t, srv.Locations, "/").AccessLogOff, "a host's fallback is logged")
			assert.False(t, findLocation(t, srv.Locations, "/app/").AccessLogOff)
		})
	}
}

// findLocation returns the location of locs with path p and no modifier.
func findLocation(t *testing.T, locs []model.Location, p string) model.Location {
	t.Helper()
	for _, l := range locs {
		if l.Path == p && l.Modifier == "" {
			return l
		}
	}
	require.Failf(t, "no location", "%s in %v", p, locs)
	return model.Location{}
}
