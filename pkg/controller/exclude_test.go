package controller

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/reload"
)

// snippetIngress is Ingress b with a configuration-snippet that adds a
// header; version tells edits apart.
func snippetIngress(value, version string) string {
	return strings.NewReplacer("VAR", value, "VERSION", version).Replace(`
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: b
  resourceVersion: "VERSION"
  annotations:
    nginx.ingress.kubernetes.io/configuration-snippet: 'add_header X-From VAR;'
spec:
  ingressClassName: portico
  rules:
  - host: b.example.com
    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}
`)
}

// recordedFindings keeps the findings of every build.
type recordedFindings struct{ all [][]model.Finding }

func (r *recordedFindings) Findings(f []model.Finding) { r.all = append(r.all, f) }

func (r *recordedFindings) last() []model.Finding { return r.all[len(r.all)-1] }

// refuseLine plays nginx -t refusing the line that holds marker, naming
// its file and line as nginx does.
func refuseLine(conf []byte, marker string) string {
	for i, line := range bytes.Split(conf, []byte("\n")) {
		if bytes.Contains(line, []byte(marker)) {
			return fmt.Sprintf("nginx: [emerg] invalid value in /etc/portico/.nginx.conf.9.tmp:%d", i+1)
		}
	}
	return ""
}

// TestRefusedIngressIsLeftOut: when nginx -t refuses a config because of
// one Ingress's lines (nginx names the file and line), the controller
// leaves that Ingress out and makes the rest live in the same sync, reports
// it as NginxRejected, does not try it again until it changes, and serves
// its last accepted version meanwhile.
func TestRefusedIngressIsLeftOut(t *testing.T) {
	src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
	refusals := 0
	ngx.refuse = func(conf []byte) string {
		out := refuseLine(conf, "nosuchvar")
		if out != "" {
			refusals++
		}
		return out
	}
	started := 0
	c := newTestController(t, src, ngx, rec, &started)
	c.opts.Model.SnippetNamespaces = []string{"default"}
	found := &recordedFindings{}
	c.opts.Findings = found
	ctx := context.Background()

	// Version 1 of b is fine and goes live with a.
	src.set(t, ingressA+snippetIngress("host", "1"))
	require.NoError(t, c.Sync(ctx))
	require.NoError(t, c.Ready())
	require.Contains(t, string(c.LiveConfig()), "b.example.com")

	// Version 2 reads a variable nginx lacks; a new Ingress c comes along.
	src.set(t, ingressA+snippetIngress("nosuchvar", "2")+strings.NewReplacer("name: b", "name: c", "b.example.com", "c.example.com").Replace(ingressB))
	require.NoError(t, c.Sync(ctx))
	assert.Equal(t, 1, refusals, "one refused nginx -t, then the rest without b's new version")
	live := string(c.LiveConfig())
	assert.Contains(t, live, "c.example.com", "the other change went live")
	assert.Contains(t, live, "b.example.com", "b's last accepted version keeps serving")
	assert.Contains(t, live, `"host"`, "its version 1")
	assert.NotContains(t, live, "nosuchvar")
	var results []reload.Result
	for _, ev := range rec.list() {
		results = append(results, ev.Result)
	}
	assert.Equal(t, []reload.Result{reload.ResultSuccess, reload.ResultInvalid, reload.ResultSuccess}, results)
	var rejected []model.Finding
	for _, f := range found.last() {
		if f.Reason == model.ReasonNginxRejected {
			rejected = append(rejected, f)
		}
	}
	require.Len(t, rejected, 1)
	assert.Equal(t, "Ingress default/b", rejected[0].Object.String())
	assert.Contains(t, rejected[0].Message, "[emerg] invalid value in")
	assert.Contains(t, rejected[0].Message, "still serving the last accepted version")

	// Other changes go live without trying b's refused version again.
	src.set(t, ingressA+snippetIngress("nosuchvar", "2"))
	require.NoError(t, c.Sync(ctx))
	assert.Equal(t, 1, refusals)
	assert.NotContains(t, string(c.LiveConfig()), "c.example.com", "c's removal went live")

	// A new version of b is tried again.
	src.set(t, ingressA+snippetIngress("nosuchvar", "3"))
	require.NoError(t, c.Sync(ctx))
	assert.Equal(t, 2, refusals)
	src.set(t, ingressA+snippetIngress("fixed", "4"))
	require.NoError(t, c.Sync(ctx))
	assert.Contains(t, string(c.LiveConfig()), `"fixed"`, "a fixed version goes live")
}

// TestUnattributedRefusalWaits: when nginx -t refuses lines of no Ingress,
// nothing is left out and the last good config keeps serving.
func TestUnattributedRefusalWaits(t *testing.T) {
	src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
	refuse := false
	ngx.refuse = func([]byte) string {
		if refuse {
			return "nginx: [emerg] could not build server_names_hash in /x:3"
		}
		return ""
	}
	started := 0
	c := newTestController(t, src, ngx, rec, &started)
	src.set(t, ingressA)
	require.NoError(t, c.Sync(context.Background()))
	require.NoError(t, c.Ready())
	refuse = true
	src.set(t, ingressA+ingressB)
	require.NoError(t, c.Sync(context.Background()))
	assert.Len(t, rec.list(), 2, "one refused attempt, no other")
	assert.Empty(t, c.excluded)
	assert.NotContains(t, string(c.LiveConfig()), "b.example.com")
}

// optionsConfigMap is the options ConfigMap with a log format.
func optionsConfigMap(format, version string) string {
	return strings.NewReplacer("FORMAT", format, "VERSION", version).Replace(`
---
apiVersion: v1
kind: ConfigMap
metadata: {name: portico, namespace: default, resourceVersion: "VERSION"}
data:
  log-format-upstream: 'FORMAT'
`)
}

// TestRefusedConfigMapIsLeftOut: a log format with a variable this nginx
// lacks (one of the model's known variables, $gzip_ratio, that the fake
// nginx says its build has not: nginx names only the variable, used on an
// http-level line) leaves
// the new ConfigMap version out: its last accepted version keeps applying,
// the other changes go live, and the ConfigMap gets NginxRejected.
func TestRefusedConfigMapIsLeftOut(t *testing.T) {
	src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
	ngx.refuse = func(conf []byte) string {
		if bytes.Contains(conf, []byte("$gzip_ratio")) {
			return `nginx: [emerg] unknown "gzip_ratio" variable`
		}
		return ""
	}
	started := 0
	c := newTestController(t, src, ngx, rec, &started)
	c.opts.Model.ConfigMap = "default/portico"
	found := &recordedFindings{}
	c.opts.Findings = found
	ctx := context.Background()

	src.set(t, ingressA+optionsConfigMap("$remote_addr first", "1"))
	require.NoError(t, c.Sync(ctx))
	require.NoError(t, c.Ready())
	require.Contains(t, string(c.LiveConfig()), "$remote_addr first")

	src.set(t, ingressA+ingressB+optionsConfigMap("$remote_addr $gzip_ratio", "2"))
	require.NoError(t, c.Sync(ctx))
	live := string(c.LiveConfig())
	assert.Contains(t, live, "b.example.com", "the other change went live")
	assert.Contains(t, live, "$remote_addr first", "the last accepted log format keeps applying")
	var rejected []model.Finding
	for _, f := range found.last() {
		if f.Reason == model.ReasonNginxRejected {
			rejected = append(rejected, f)
		}
	}
	require.Len(t, rejected, 1)
	assert.Equal(t, "ConfigMap default/portico", rejected[0].Object.String())

	src.set(t, ingressA+ingressB+optionsConfigMap("$remote_addr fixed", "3"))
	require.NoError(t, c.Sync(ctx))
	assert.Contains(t, string(c.LiveConfig()), "$remote_addr fixed", "a new version is tried again")
}

// TestUnknownLogVariableKeepsLiveFormat: a log format naming a variable
// the model does not know is refused before nginx sees it, and the live
// format stays, on that sync and on later ones while the bad version is
// the ConfigMap's (not the default, which would change the log lines
// people's parsers read).
func TestUnknownLogVariableKeepsLiveFormat(t *testing.T) {
	src, ngx, rec := &fakeSource{}, &fakeNginx{}, &events{}
	started := 0
	c := newTestController(t, src, ngx, rec, &started)
	c.opts.Model.ConfigMap = "default/portico"
	ctx := context.Background()

	src.set(t, ingressA+optionsConfigMap("$remote_addr first", "1"))
	require.NoError(t, c.Sync(ctx))
	require.NoError(t, c.Ready())
	require.Contains(t, string(c.LiveConfig()), "$remote_addr first")

	src.set(t, ingressA+optionsConfigMap("$remote_addr $nosuchvar", "2"))
	require.NoError(t, c.Sync(ctx))
	assert.Contains(t, string(c.LiveConfig()), "$remote_addr first")
	assert.NotContains(t, string(c.LiveConfig()), "nosuchvar")

	src.set(t, ingressA+ingressB+optionsConfigMap("$remote_addr $nosuchvar", "2"))
	require.NoError(t, c.Sync(ctx))
	live := string(c.LiveConfig())
	assert.Contains(t, live, "b.example.com", "the other change went live")
	assert.Contains(t, live, "$remote_addr first", "the live format stays on later syncs too")
}
