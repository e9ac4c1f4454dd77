//go:build linux

package local

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// faultTemplate writes the built-in template with two changes, standing
// for what an Ingress can bring that nginx -t refuses or hangs on: the
// locations of Ingresses named "breaks" get a directive nginx does not
// know, and those of Ingresses named "hangs" include the file include (a
// FIFO makes nginx -t block opening it, as a hung NFS mount would). Their
// paths must differ from every other Ingress's: hosts of one shape share a
// server block, whose locations name no Ingress.
func faultTemplate(t *testing.T, include string) string {
	t.Helper()
	root, err := framework.ModuleRoot()
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(root, "templates", "nginx.tmpl"))
	require.NoError(t, err)
	const at = "{{- with .Source }}\n            # {{ q . }}\n{{- end }}"
	require.Contains(t, string(raw), at)
	faults := at + "\n{{- if hasSuffix \"/breaks\" .Source }}\n            no_such_directive_for_the_test on;\n{{- end }}" +
		"\n{{- if hasSuffix \"/hangs\" .Source }}\n            include " + include + ";\n{{- end }}"
	path := filepath.Join(t.TempDir(), "nginx.tmpl")
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(raw), at, faults, 1)), 0o644))
	return path
}

// summary is "result xcount" per /debug/reloads entry, newest first.
func summary(events []framework.ReloadEvent) []string {
	out := make([]string, 0, len(events))
	for _, ev := range events {
		out = append(out, fmt.Sprintf("%s x%d", ev.Result, ev.Count))
	}
	return out
}

// waitReloads waits until /debug/reloads, summarised, starts with want.
func (c *controller) waitReloads(t *testing.T, timeout time.Duration, want ...string) []framework.ReloadEvent {
	t.Helper()
	var events []framework.ReloadEvent
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var err error
		events, err = c.TryReloads()
		require.NoError(ct, err)
		got := summary(events)
		require.GreaterOrEqual(ct, len(got), len(want), "%v", got)
		assert.Equal(ct, want, got[:len(want)])
	}, timeout, framework.PollInterval)
	return events
}

// nginxTests lists the nginx -t processes running on this controller's
// candidate configs.
func nginxTests(configDir string) []framework.Proc {
	var out []framework.Proc
	for _, p := range framework.Processes() {
		if p.State != "Z" && strings.Contains(p.Cmdline, filepath.Join(configDir, ".nginx.conf.")) {
			out = append(out, p)
		}
	}
	return out
}

// TestReloadFailureThenRevertReportsTruth: a candidate nginx -t refuses, and
// one nginx -t hangs on (retried after each timeout), each followed by the
// config wanted being the live one again (the refused Ingress left out; the
// hanging one removed). Afterwards portico_last_reload_successful is 1,
// /debug/reloads lists each failure once with its count and then a
// recovery, no nginx -t is left running, and traffic never stopped.
func TestReloadFailureThenRevertReportsTruth(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host = "truth.example.com"
	fifo := filepath.Join(t.TempDir(), "hangs.conf")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// A stale candidate from an earlier run, which the start removes.
	root := framework.ControllerDir(t)
	stale := filepath.Join(root, "conf", ".nginx.conf.41.tmp")
	require.NoError(t, os.MkdirAll(filepath.Dir(stale), 0o711))
	require.NoError(t, os.WriteFile(stale, []byte("events {}\n"), 0o600))
	c := &controller{manifests: filepath.Join(root, "manifests")}
	require.NoError(t, os.Mkdir(c.manifests, 0o755))
	c.writeManifest(t, "web.yaml", serviceYAML("web", b["web"]))
	c.writeManifest(t, "ingress.yaml", ingressYAML("web", host, route{"/", "Prefix", "web"}))
	c.Controller = suite.StartController(t, framework.ControllerConfig{
		Source: []string{"--manifests", c.manifests, "--allow-loopback-backends"},
		Args:   append([]string{"--template", faultTemplate(t, fifo), "--nginx-test-timeout", "1s"}, fastSync...),
		Dir:    root,
	})
	c.WaitServed(t, host, "/", "web")
	_, err := os.Stat(stale)
	assert.ErrorIs(t, err, os.ErrNotExist, "the stale candidate is removed at start")
	c.waitLog(t, "removed a temporary config left by an earlier run", stale)
	c.waitReloads(t, framework.ReloadTimeout, "success x1")

	load := startSteadyLoad(t, c, loadTarget{host, "/", "web"})

	// 1. nginx -t refuses Ingress breaks: it is left out in the same sync,
	// which leaves the live config as it was.
	c.writeManifest(t, "breaks.yaml", ingressYAML("breaks", "breaks.example.com", route{"/breaks", "Prefix", "web"}))
	events := c.waitReloads(t, framework.ReloadTimeout, "recovered x1", "invalid x1", "success x1")
	assert.Contains(t, events[1].Message, "no_such_directive_for_the_test")
	assert.Equal(t, "recovered: back to the live configuration; what nginx -t refused is left out (finding NginxRejected)", events[0].Message)
	assert.Equal(t, events[2].Generation, events[0].Generation, "the generation nginx serves")
	assert.Equal(t, events[2].ConfigHash, events[0].ConfigHash)
	last, ok := c.Metric(t, "portico_last_reload_successful", nil)
	require.True(t, ok)
	assert.Equal(t, 1.0, last, "nginx runs the config wanted")
	c.removeManifest(t, "breaks.yaml")

	// 2. nginx -t hangs on Ingress hangs: killed after 1s, retried after the
	// hold-off, and every retry folded into one entry.
	c.writeManifest(t, "hangs.yaml", ingressYAML("hangs", "hangs.example.com", route{"/hangs", "Prefix", "web"}))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		events, err := c.TryReloads()
		require.NoError(ct, err)
		require.NotEmpty(ct, events)
		assert.Equal(ct, "timeout", events[0].Result)
		assert.GreaterOrEqual(ct, events[0].Count, 3, "retries")
		assert.LessOrEqual(ct, len(nginxTests(c.ConfigDir)), 1, "one nginx -t at a time")
	}, 30*time.Second, framework.PollInterval)
	last, ok = c.Metric(t, "portico_last_reload_successful", nil)
	require.True(t, ok)
	assert.Equal(t, 0.0, last, "the config wanted is not live")

	c.removeManifest(t, "hangs.yaml")
	events = c.waitReloads(t, framework.ReloadTimeout, "recovered x1")
	require.GreaterOrEqual(t, len(events), 5, "%v", summary(events))
	assert.Equal(t, []string{"recovered x1", "invalid x1", "success x1"}, summary(events[2:5]))
	hung := events[1]
	assert.Equal(t, "timeout", hung.Result, "%v", summary(events))
	assert.GreaterOrEqual(t, hung.Count, 3, "the retries are one entry")
	assert.Contains(t, hung.Message, "nginx -t did not finish within 1s; killed: ")
	assert.True(t, hung.LastTime.After(hung.Time), "first and last attempt: %s, %s", hung.Time, hung.LastTime)
	assert.Equal(t, reload(t, events[4]), reload(t, events[0]), "back to the first config")
	assert.Equal(t, "recovered: back to the live configuration", events[0].Message)
	last, ok = c.Metric(t, "portico_last_reload_successful", nil)
	require.True(t, ok)
	assert.Equal(t, 1.0, last, "nginx runs the config wanted")
	assert.Equal(t, float64(hung.Count), c.MetricSum(t, "portico_reloads_total", map[string]string{"result": "timeout"}),
		"every attempt counted")
	require.Eventually(t, func() bool { return len(nginxTests(c.ConfigDir)) == 0 }, framework.GoneTimeout, framework.PollInterval,
		"no nginx -t left running")
	t.Logf("nginx -t hung %d times from %s to %s", hung.Count, hung.Time.Format(time.StampMilli), hung.LastTime.Format(time.StampMilli))

	load.requireNoFailures(t, 100)
}

// reload is what identifies the config an entry describes.
func reload(t *testing.T, ev framework.ReloadEvent) string {
	t.Helper()
	return fmt.Sprintf("generation %d, hash %s", ev.Generation, ev.ConfigHash)
}

// TestHungNginxTestRecovers: while nginx -t hangs (an include on a FIFO,
// as on a hung NFS mount) the live config keeps serving; once the file is
// readable again the new config goes live within the test timeout (an
// attempt in flight that already blocks on the FIFO hangs until killed)
// plus the hold-off, however many attempts failed before: the retry after
// a timeout does not back off (after 5 failures in a row the exponential
// backoff alone would be 8s).
func TestHungNginxTestRecovers(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web", "late")
	const host, late = "live.example.com", "late.example.com"
	fifo := filepath.Join(t.TempDir(), "hangs.conf")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	const testTimeout = time.Second
	c := startController(t, options{
		args: append([]string{"--template", faultTemplate(t, fifo), "--nginx-test-timeout", testTimeout.String()}, fastSync...),
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"ingress.yaml":  ingressYAML("web", host, route{"/", "Prefix", "web"}),
		},
	})
	c.WaitServed(t, host, "/", "web")
	load := startSteadyLoad(t, c, loadTarget{host, "/", "web"})

	c.writeManifest(t, "hangs.yaml", ingressYAML("hangs", late, route{"/hangs", "Prefix", "late"}))
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		events, err := c.TryReloads()
		require.NoError(ct, err)
		require.NotEmpty(ct, events)
		assert.Equal(ct, "timeout", events[0].Result)
		assert.GreaterOrEqual(ct, events[0].Count, 5)
	}, 30*time.Second, framework.PollInterval)
	code, body, err := c.StatusGet("/healthz")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "a hung nginx -t does not make the controller unhealthy: %s", body)

	// The file is readable again.
	fixed := time.Now()
	require.NoError(t, os.Remove(fifo))
	require.NoError(t, os.WriteFile(fifo, []byte("# readable again\n"), 0o644))
	c.WaitServed(t, late, "/hangs", "late")
	took := time.Since(fixed)
	const holdOff = 20 * time.Millisecond // fastSync
	bound := testTimeout + holdOff + 3*time.Second
	assert.Less(t, took, bound, "live %s after the file was fixed", took)
	t.Logf("live %s after the file was fixed (bound %s: the attempt in flight hangs until killed at %s, then the retry after %s)",
		took.Round(time.Millisecond), bound, testTimeout, holdOff)
	// Served once nginx took the reload; the attempt is done (and listed)
	// once the new generation is confirmed.
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		events, err := c.TryReloads()
		require.NoError(ct, err)
		require.GreaterOrEqual(ct, len(events), 2)
		assert.Equal(ct, "success", events[0].Result)
		assert.Equal(ct, "timeout", events[1].Result)
		assert.GreaterOrEqual(ct, events[1].Count, 5, "the failed attempts are one entry")
	}, framework.ReloadTimeout, framework.PollInterval)
	last, ok := c.Metric(t, "portico_last_reload_successful", nil)
	require.True(t, ok)
	assert.Equal(t, 1.0, last)

	load.requireNoFailures(t, 100)
}
