package model

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// DefaultLogDirs returns the directories access-log-path and error-log-path
// may name files in when --log-dir is not given: ingress-nginx's default
// files are /var/log/nginx/access.log and error.log (in Portico's image, as
// in ingress-nginx's, links to /dev/stdout and /dev/stderr).
func DefaultLogDirs() []string { return []string{"/var/log"} }

// logPathPattern is what a log file path (up to 1024 bytes) may hold: no space, quote, "$"
// (nginx would read a variable and open a file per request), ";", "{" or
// anything else nginx.conf gives a meaning to, and no "syslog:" or
// "memory:" target, which start with a letter.
var logPathPattern = regexp.MustCompile(`^/[A-Za-z0-9._/-]+$`)

// maxSkipAccessLogURLs bounds skip-access-log-urls: each is a line of nginx.conf.
const maxSkipAccessLogURLs = 1000

// skipURLPattern is one skip-access-log-urls entry: a request URI as a
// client sends it (path and query, the characters RFC 3986 allows there,
// percent-encoding included) of up to 2048 bytes, without the "," that separates the entries and
// the quotes and "\" that nginx.conf would read, and without "$".
var skipURLPattern = regexp.MustCompile(`^/[A-Za-z0-9\-._~!&()*+;=:@/%?]*$`)

// applyAccessLogPath accepts /dev/stdout, /dev/stderr or a file under
// Global.LogDirs for access_log. Whether nginx can open the file (its
// directory exists, it may write there) is I/O, which Build does not do:
// nginx -t checks it, and a ConfigMap version it refuses is not applied
// (ReasonNginxRejected), its last accepted version staying.
func applyAccessLogPath(g *Global, v string) error {
	if v == "/dev/stdout" || v == "/dev/stderr" {
		g.AccessLog = v
		return nil
	}
	if v == "off" {
		return fmt.Errorf("must be a path; use disable-access-log to turn the access log off")
	}
	if err := checkLogFile(g, v); err != nil {
		return err
	}
	g.AccessLog = v
	return nil
}

// applyErrorLogPath accepts stderr, /dev/stderr, /dev/stdout or a file
// under Global.LogDirs for error_log (see applyAccessLogPath).
func applyErrorLogPath(g *Global, v string) error {
	if v == "stderr" || v == "/dev/stderr" || v == "/dev/stdout" {
		g.ErrorLog = v
		return nil
	}
	if err := checkLogFile(g, v); err != nil {
		return err
	}
	g.ErrorLog = v
	return nil
}

// checkLogFile checks a log file path: absolute, clean, of plain
// characters, inside one of Global.LogDirs and outside the directories
// whose files nginx and the controller depend on (nginx.conf, keys, the pid
// file, the Lua code): nginx's master opens log files for appending, often
// as root, so a path must never reach those.
func checkLogFile(g *Global, v string) error {
	if strings.HasPrefix(v, "syslog:") || strings.HasPrefix(v, "memory:") {
		return fmt.Errorf("must be a file path: syslog and memory targets are not supported")
	}
	if len(v) > 1024 || !logPathPattern.MatchString(v) || filepath.Clean(v) != v {
		return fmt.Errorf("must be an absolute, clean file path of letters, digits and . _ / - (or /dev/stdout, /dev/stderr)")
	}
	for _, d := range []string{g.RuntimeDir, g.LuaDir, filepath.Dir(g.DefaultCertificate), filepath.Dir(g.PIDFile)} {
		if d != "" && d != "." && d != "/" && within(v, d) {
			return fmt.Errorf("is inside %s, which holds Portico's and nginx's own files", d)
		}
	}
	dirs := g.LogDirs
	if dirs == nil {
		dirs = DefaultLogDirs()
	}
	if !slices.ContainsFunc(dirs, func(d string) bool { return v != d && within(v, d) }) {
		return fmt.Errorf("must be a file in %s (the controller's --log-dir), or /dev/stdout or /dev/stderr", strings.Join(dirs, ", "))
	}
	return nil
}

// within reports whether the clean path p is dir or inside it.
func within(p, dir string) bool {
	dir = strings.TrimSuffix(dir, "/")
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// applySkipAccessLogURLs parses skip-access-log-urls: comma-separated
// request URIs, each compared with the whole $request_uri (path and query)
// by a map whose keys nginx matches exactly but without regard to case, so
// entries equal but for case are one entry (nginx -t refuses a map with
// both). An empty value is an empty list.
func applySkipAccessLogURLs(g *Global, v string) error {
	var out []string
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if len(f) > 2048 || !skipURLPattern.MatchString(f) {
			return fmt.Errorf("has %q, which is not a request URI starting with / (letters, digits and -._~!&()*+;=:@/%%?)", excerpt.Of(f))
		}
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, f) }) {
			out = append(out, f)
		}
	}
	if len(out) > maxSkipAccessLogURLs {
		return fmt.Errorf("must list at most %d URIs", maxSkipAccessLogURLs)
	}
	g.SkipAccessLogURLs = out
	return nil
}

// logFormatEscape is log_format's escape parameter: log-format-escape-none
// wins over log-format-escape-json, as in ingress-nginx; "" is nginx's
// default escaping.
func logFormatEscape(g *Global) string {
	switch {
	case g.LogEscapeNone:
		return "none"
	case g.LogEscapeJSON:
		return "json"
	}
	return ""
}
