package render_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// logKeys are the ConfigMap keys FuzzLogFormat sets, in its arguments' order.
var logKeys = []string{"log-format-upstream", "log-format-escape-json", "log-format-escape-none",
	"skip-access-log-urls", "access-log-path", "error-log-path", "enable-access-log-for-default-backend"}

// FuzzLogFormat puts arbitrary text into the ConfigMap's log keys
// (log-format-upstream, the escape keys, skip-access-log-urls, the log
// paths and enable-access-log-for-default-backend; an empty argument leaves
// its key out): the model either accepts a value, which is then what
// nginx.conf says (log_format reads back exactly as written, with the escape
// the keys decide; access_log, error_log and the $loggable map hold exactly
// the paths and URIs accepted), or reports it and keeps the default; an
// accepted path is a standard stream or a file in the log directory
// (LOGDIR in a seed is the test's). The seeds (and every input when not
// fuzzing) pass the real nginx -t, the directories of the accepted files
// made first, as nginx -t needs them to exist.
func FuzzLogFormat(f *testing.F) {
	add := func(format, escJSON, escNone, skip, access, errorLog, defaultBackend string) {
		f.Add(format, escJSON, escNone, skip, access, errorLog, defaultBackend)
	}
	add(model.DefaultLogFormat, "", "", "", "", "", "")
	add(`$the_real_ip $namespace/$ingress_name $service_name:$service_port [$proxy_upstream_name] [$proxy_alternative_upstream_name] $req_id`, "", "", "", "", "", "")
	add(`{"time": "$time_iso8601", "status": ${status}, "ua": "$http_user_agent", "ct": "$sent_http_content_type", "c": "$cookie_sid", "a": "$arg_q", "u": "$upstream_http_server"}`,
		"true", "false", "/healthz,/ready?probe=1, /HEALTHZ", "LOGDIR/nginx/access.log", "LOGDIR/nginx/error.log", "true")
	add(`$remote_addr $unknown_variable`, "false", "true", "", "/dev/stdout", "stderr", "false")
	add(`$portico_route`, "yes", "1", "/a,b", "/dev/stderr", "/dev/stdout", "on")
	add(`cost $ 5`, "", "", `/a" 0; default 0; "`, "/var/log/nginx/access.log", "/etc/nginx/nginx.conf", "")
	add(`${status`, "", "", "~^/health", "LOGDIR/../../etc/passwd", "syslog:server=192.0.2.1:514", "")
	add(`"; } server { listen 1; } #`, "", "", "/$uri", "LOGDIR/a.log; error_log /etc/shadow", "memory:32m", "")
	add("$status\n$status", "", "", "/a\n/b", "LOGDIR/$host.log", "LOGDIR", "")
	add(`\"$status\\`, "TRUE", "False", "/x\\", "off", "LOGDIR/e\".log", "")
	add("$status", "", "", strings.Repeat("/h,", 1001), "LOGDIR/"+strings.Repeat("d/", 600), "LOGDIR/ok.log", "")
	r, opts, runNginx, defaultPEM := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, format, escJSON, escNone, skip, access, errorLog, defaultBackend string) {
		// Not t.TempDir(): a seed's name ("seed#2") puts a "#" in it,
		// which no log path may hold.
		logDir, err := os.MkdirTemp("", "portico-fuzz-logs-")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(logDir) })
		o := opts
		o.Global.LogDirs = []string{logDir}
		args := []string{format, escJSON, escNone, skip, access, errorLog, defaultBackend}
		data := map[string]string{}
		for i, v := range args {
			if v != "" {
				data[logKeys[i]] = strings.ReplaceAll(v, "LOGDIR", logDir)
			}
		}
		snap := fuzzSnapshot("log.example.com", "/", "web", "", "", "198.18.0.2")
		snap.ConfigMaps = []*corev1.ConfigMap{{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico"}, Data: data}}
		cfg, findings := model.Build(snap, o)
		refused := map[string]bool{}
		for _, fd := range findings {
			require.Equal(t, "ConfigMap", fd.Object.Kind, "%v", fd)
			key, _, _ := strings.Cut(fd.Message, ":")
			refused[key] = true
		}
		g := cfg.Global
		// Every value accepted is in effect.
		for key, v := range data {
			if refused[key] {
				continue
			}
			v = strings.TrimSpace(v)
			switch key {
			case "log-format-upstream":
				require.Equal(t, v, g.LogFormat)
			case "access-log-path":
				require.Equal(t, v, g.AccessLog)
			case "error-log-path":
				require.Equal(t, v, g.ErrorLog)
			}
		}
		if refused["log-format-upstream"] || data["log-format-upstream"] == "" {
			require.Equal(t, model.DefaultLogFormat, g.LogFormat)
		}
		require.Contains(t, []string{"", "json", "none"}, g.LogFormatEscape)
		checkLogPath(t, g.AccessLog, logDir, "off", "/dev/stdout", "/dev/stderr")
		checkLogPath(t, g.ErrorLog, logDir, "stderr", "/dev/stdout", "/dev/stderr")
		for _, u := range g.SkipAccessLogURLs {
			require.True(t, strings.HasPrefix(u, "/") && !strings.ContainsAny(u, "$\"\\ ,\n"), "skip URI %q", u)
		}
		for _, l := range cfg.DefaultServer.Locations {
			if l.Path == "/" && l.Source == "" {
				require.Equal(t, !g.AccessLogDefaultBackend, l.AccessLogOff, "the default server's fallback")
			}
		}

		conf, err := r.Render(cfg, 7)
		require.NoError(t, err)
		tree, err := ngxconf.Parse(string(conf))
		require.NoError(t, err, "%s", conf)
		require.Equal(t, ExpectedShape(cfg), RenderedShape(tree))
		var logFormat, accessLog, errorLogArgs, loggable []string
		ngxconf.Walk(tree, func(p []string, d *ngxconf.Directive) {
			switch {
			case d.Name == "log_format":
				logFormat = append(logFormat, d.Args...)
			case d.Name == "access_log" && slices.Equal(p, []string{"http"}):
				accessLog = append(accessLog, d.Args...)
			case d.Name == "error_log":
				errorLogArgs = append(errorLogArgs, d.Args...)
			case len(p) == 2 && p[1] == "map" && d.Name != "default":
				// The only map of the http block whose values are 0.
				if slices.Equal(d.Args, []string{"0"}) {
					loggable = append(loggable, d.Name)
				}
			}
		})
		wantFormat := []string{"portico", g.LogFormat}
		if g.LogFormatEscape != "" {
			wantFormat = []string{"portico", "escape=" + g.LogFormatEscape, g.LogFormat}
		}
		require.Equal(t, wantFormat, logFormat)
		require.Equal(t, []string{g.ErrorLog, g.ErrorLogLevel}, errorLogArgs)
		switch {
		case g.AccessLog == "off":
			require.Equal(t, []string{"off"}, accessLog)
			require.Empty(t, loggable)
		case len(g.SkipAccessLogURLs) > 0:
			require.Equal(t, []string{g.AccessLog, "portico", "if=$loggable"}, accessLog)
			require.Equal(t, g.SkipAccessLogURLs, loggable)
		default:
			require.Equal(t, []string{g.AccessLog, "portico"}, accessLog)
			require.Empty(t, loggable)
		}
		if !runNginx {
			return
		}
		for _, p := range []string{g.AccessLog, g.ErrorLog} {
			if strings.HasPrefix(p, logDir+"/") {
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			}
		}
		out, ok := nginxCheck(t, cfg, conf, defaultPEM)
		require.True(t, ok, "nginx -t rejected the config of %q:\n%s", args, out)
	})
}

// checkLogPath fails unless p is one of special or a clean file path
// strictly inside dir.
func checkLogPath(t *testing.T, p, dir string, special ...string) {
	t.Helper()
	if slices.Contains(special, p) {
		return
	}
	require.True(t, strings.HasPrefix(p, dir+"/") && filepath.Clean(p) == p && !strings.ContainsAny(p, "$\";{} \n"),
		"log path %q is neither one of %v nor a file in %s", p, special, dir)
}
