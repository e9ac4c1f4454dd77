//go:build linux

package local

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// fastSync makes the controller sync 20ms after a change instead of 200ms,
// for tests that make many changes one after the other.
var fastSync = []string{"--sync-holdoff", "20ms", "--sync-max-holdoff", "100ms"}

// TestReloadOnEdit checks that editing a manifest changes the routing.
func TestReloadOnEdit(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "one", "two")
	const host = "edit.example.com"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"ingress.yaml":  ingressYAML("edit", host, route{"/one", "Prefix", "one"}),
	}})
	c.WaitStatus(t, host, "/two", http.StatusNotFound, "")

	ev := c.update(t, "ingress.yaml", ingressYAML("edit", host, route{"/one", "Prefix", "one"}, route{"/two", "Prefix", "two"}))
	assert.Equal(t, []string{host}, ev.Changes.Changed, "the reload event names the changed server")
	c.WaitServed(t, host, "/two", "two")
	c.WaitServed(t, host, "/one", "one")

	// Deleting the file removes its routes.
	before := c.Generation(t)
	c.removeManifest(t, "ingress.yaml")
	ev = c.WaitReload(t, before)
	assert.Equal(t, "success", ev.Result, ev.Message)
	assert.Equal(t, []string{host}, ev.Changes.Removed)
	c.WaitStatus(t, host, "/one", http.StatusNotFound, "")
}

// TestMalformedManifest checks that a file that is not valid YAML is
// reported with file:line, that the routes of every other file (and the last
// good version of the broken one) keep serving, and that fixing it recovers.
func TestMalformedManifest(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "good", "fixed")
	const host = "yaml.example.com"
	good := ingressYAML("good", host, route{"/good", "Prefix", "good"})
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"good.yaml":     good,
	}})
	c.WaitServed(t, host, "/good", "good")
	before := c.Generation(t)

	// A new file with a syntax error on line 9 (in its second document).
	broken := `apiVersion: v1
kind: ConfigMap
metadata: {name: first}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: fixed
    labels: {a: b}
`
	c.writeManifest(t, "broken.yaml", broken)
	brokenPath := filepath.Join(c.manifests, "broken.yaml")
	c.waitLog(t, `"msg":"manifest problem"`, brokenPath+`:9: invalid YAML`)

	// An edit that breaks a file that was good: its last good version stays.
	c.writeManifest(t, "good.yaml", good+"  - host: [unterminated\n")
	c.waitLog(t, `"msg":"manifest problem"`, filepath.Join(c.manifests, "good.yaml")+`:11: invalid YAML`,
		"the 1 object(s) of its last good version stay in use until it is fixed")

	for range 10 {
		r := c.Get(t, host, "/good")
		require.Equal(t, http.StatusOK, r.Status, "routes keep serving while a file is broken: %s", r)
		require.Equal(t, "good", r.Served(), "%s", r)
	}
	assert.Equal(t, before, c.Generation(t), "broken files cause no reload")

	// Fixing the broken file brings its Ingress in.
	c.update(t, "broken.yaml", ingressYAML("fixed", host, route{"/fixed", "Prefix", "fixed"}))
	c.WaitServed(t, host, "/fixed", "fixed")
	c.writeManifest(t, "good.yaml", good)
	c.WaitServed(t, host, "/good", "good")
}

// waitLog waits until a controller log line contains every one of parts.
func (c *controller) waitLog(t *testing.T, parts ...string) {
	t.Helper()
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		for line := range strings.Lines(c.Logs.String()) {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				return
			}
		}
		ct.Errorf("no log line contains all of %q", parts)
	}, framework.RouteTimeout, framework.PollInterval)
}

// TestInvalidConfigKeepsServing edits the --template so that nginx -t
// rejects the result: the old configuration must keep serving, the failure
// must show in /debug/reloads and the metrics, and restoring the template
// must recover.
func TestInvalidConfigKeepsServing(t *testing.T) {
	t.Parallel()
	root, err := framework.ModuleRoot()
	require.NoError(t, err)
	original, err := os.ReadFile(filepath.Join(root, "templates", "nginx.tmpl"))
	require.NoError(t, err)
	tmpl := filepath.Join(t.TempDir(), "nginx.tmpl")
	require.NoError(t, os.WriteFile(tmpl, original, 0o644))

	b := startBackends(t, "web")
	const host = "template.example.com"
	c := startController(t, options{args: []string{"--template", tmpl}, files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"ingress.yaml": ingressYAML("web", host, route{"/", "Prefix", "web"}),
	}})
	c.WaitServed(t, host, "/", "web")
	goodConf := c.MustStatusGet(t, "/debug/config")
	before := c.Generation(t)

	require.Contains(t, string(original), "\nhttp {\n")
	bad := strings.Replace(string(original), "\nhttp {\n", "\nhttp {\n    bogus_directive on;\n", 1)
	writeAtomic(t, tmpl, bad)
	ev := c.WaitReload(t, before)
	assert.Equal(t, "invalid", ev.Result)
	assert.Contains(t, ev.Message, "bogus_directive")
	t.Logf("rejected config: %s", ev.Message)

	for range 10 {
		r := c.Get(t, host, "/")
		require.Equal(t, http.StatusOK, r.Status, "the old config keeps serving: %s", r)
		require.Equal(t, "web", r.Served(), "%s", r)
	}
	assert.Equal(t, string(goodConf), string(c.MustStatusGet(t, "/debug/config")), "the live config is still the old one")
	onDisk, err := os.ReadFile(filepath.Join(c.ConfigDir, "nginx.conf"))
	require.NoError(t, err)
	assert.NotContains(t, string(onDisk), "bogus_directive", "a rejected config is never made live")
	invalid, ok := c.Metric(t, "portico_reloads_total", map[string]string{"result": "invalid"})
	require.True(t, ok, "portico_reloads_total{result=\"invalid\"} is exported")
	assert.GreaterOrEqual(t, invalid, 1.0)
	last, ok := c.Metric(t, "portico_last_reload_successful", nil)
	require.True(t, ok)
	assert.Equal(t, 0.0, last)
	code, _, err := c.StatusGet("/healthz")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, code, "a rejected config does not make the controller unhealthy")

	writeAtomic(t, tmpl, string(original))
	ev = c.WaitReload(t, ev.Generation)
	assert.Equal(t, "success", ev.Result, ev.Message)
	last, ok = c.Metric(t, "portico_last_reload_successful", nil)
	require.True(t, ok)
	assert.Equal(t, 1.0, last)
	c.WaitServed(t, host, "/", "web")
}

// TestNoReloadWithoutChange checks that events that do not change the
// configuration (an identical rewrite, a touch, a comment) cause no reload.
func TestNoReloadWithoutChange(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host = "same.example.com"
	ing := ingressYAML("web", host, route{"/", "Prefix", "web"})
	c := startController(t, options{args: []string{"--log-level", "debug"}, files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"ingress.yaml": ing,
	}})
	const unchanged = "configuration unchanged"
	before := c.Generation(t)

	steps := []struct {
		name   string
		change func()
	}{
		{"identical rewrite", func() { c.writeManifest(t, "ingress.yaml", ing) }},
		{"touch", func() {
			now := time.Now()
			require.NoError(t, os.Chtimes(filepath.Join(c.manifests, "ingress.yaml"), now, now))
		}},
		{"comment only", func() { c.writeManifest(t, "ingress.yaml", "# routes for same.example.com\n"+ing+"# end\n") }},
		{"new file with no objects", func() { c.writeManifest(t, "empty.yaml", "# nothing here yet\n") }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			seen := c.Logs.Count(unchanged)
			s.change()
			// The controller processed the change once it logged another
			// "configuration unchanged".
			require.EventuallyWithT(t, func(ct *assert.CollectT) {
				assert.Greater(ct, c.Logs.Count(unchanged), seen, "the change was processed")
			}, framework.ReloadTimeout, framework.PollInterval)
			require.Never(t, func() bool {
				events, err := c.TryReloads()
				return err != nil || len(events) == 0 || events[0].Generation != before
			}, 2*time.Second, 100*time.Millisecond, "no reload for a change that changes nothing")
		})
	}
	r := c.Get(t, host, "/")
	assert.Equal(t, "web", r.Served(), "%s", r)
}

// TestTrafficDuringReloads sends 200 requests spread over 20 reloads: every
// one must be answered 200 by the right backend.
func TestTrafficDuringReloads(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "base", "added")
	const host = "busy.example.com"
	grow := func(n int) string { return growingIngress("busy", host, "base", "added", n) }
	c := startController(t, options{
		args: append([]string{"--worker-processes", "2"}, fastSync...),
		files: map[string]string{
			"services.yaml": servicesYAML(b),
			"ingress.yaml":  grow(0),
		},
	})
	c.WaitServed(t, host, "/p0", "added")

	const reloads, perReload = 20, 10
	// A client of its own, with keep-alive, as real clients are: the
	// connections it keeps open to the old workers are closed under it by
	// every reload.
	client := framework.NewHTTPClient(c.HTTPPort, true)
	start := make(chan int)
	done := make(chan []string, reloads) // buffered: the client never blocks on a test that gave up
	stopClient := sync.OnceFunc(func() { close(start) })
	defer stopClient()
	go func() {
		defer close(done)
		// Paths whose routing no reload changes: any answer from an old or a
		// new worker must be right.
		targets := []struct{ path, service string }{{"/", "base"}, {"/x/y", "base"}, {"/p0", "added"}, {"/p0/z", "added"}}
		for batch := range start {
			var failures []string
			for i := range perReload {
				tgt := targets[(batch*perReload+i)%len(targets)]
				r, err := framework.DoGet(client, "http", host, tgt.path)
				switch {
				case err != nil:
					failures = append(failures, fmt.Sprintf("reload %d, GET %s: %v", batch, tgt.path, err))
				case r.Status != http.StatusOK || r.Served() != tgt.service:
					failures = append(failures, fmt.Sprintf("reload %d, GET %s: %s, want 200 from %s", batch, tgt.path, r, tgt.service))
				}
				time.Sleep(10 * time.Millisecond) // pacing, so the batch spans the reload
			}
			done <- failures
		}
	}()

	var failures []string
	var durations []float64
	fresh := framework.NewHTTPClient(c.HTTPPort, false)
	var stale []string
	for k := 1; k <= reloads; k++ {
		before := c.Generation(t)
		start <- k
		c.writeManifest(t, "ingress.yaml", grow(k))
		ev := c.WaitReload(t, before)
		require.Equal(t, "success", ev.Result, ev.Message)
		durations = append(durations, ev.DurationMS)
		// A figure, not an assertion: does a new connection made right
		// after the event see the new path?
		switch r, err := framework.DoGet(fresh, "http", host, fmt.Sprintf("/p%d", k)); {
		case err != nil:
			stale = append(stale, fmt.Sprintf("reload %d (%.0fms): %v", k, ev.DurationMS, err))
		case r.Served() != "added":
			stale = append(stale, fmt.Sprintf("reload %d (%.0fms): %s", k, ev.DurationMS, r))
		}
		select {
		case f := <-done:
			failures = append(failures, f...)
		case <-time.After(framework.RouteTimeout):
			t.Fatalf("client batch %d did not finish within %s", k, framework.RouteTimeout)
		}
	}
	stopClient()
	assert.Empty(t, failures, "requests failed during reloads")
	c.WaitServed(t, host, fmt.Sprintf("/p%d", reloads), "added")
	t.Logf("%d requests over %d reloads, %d failed; reload durations (ms): %s; new path not yet served on the first new connection after the event: %d/%d %v",
		reloads*perReload, reloads, len(failures), formatMS(durations), len(stale), reloads, stale)
}

// TestBurstCoalescing makes 100 changes within one second with the default
// hold-off: they must coalesce into at most two reloads.
func TestBurstCoalescing(t *testing.T) {
	t.Parallel()
	const host = "burst.example.com"
	const changes = 100
	// 9ms apart: all 100 writes land within one second.
	b := runBurst(t, host, changes, 9*time.Millisecond)
	events, wrote, c := b.events, b.wrote, b.c
	t.Logf("%d changes written in %s caused %d reload(s)", changes, wrote.Round(time.Millisecond), len(events))
	assert.NotEmpty(t, events)
	assert.LessOrEqual(t, len(events), 2, "a burst of %d changes within a second coalesces into at most 2 reloads", changes)
	r := c.Get(t, host, "/v1")
	assert.Equal(t, http.StatusNotFound, r.Status, "only the last version is live: %s", r)
}

func formatMS(ms []float64) string {
	parts := make([]string, len(ms))
	for i, v := range ms {
		parts[i] = fmt.Sprintf("%.0f", v)
	}
	return strings.Join(parts, " ")
}

// burst is what runBurst left behind.
type burst struct {
	c            *controller
	before, last uint64                  // generations before the first edit and once settled
	wrote        time.Duration           // from the first edit to the last
	servedAfter  time.Duration           // from the last edit until it was served
	events       []framework.ReloadEvent // the reloads after before, each asserted successful
}

// runBurst serves host with Ingress "burst" (path /v0), rewrites it changes
// times spacing apart (path /vI), on an absolute schedule so that one late
// write does not push the rest out, waits until the last version is served
// and no attempt follows for 1.5 s (longer than --sync-max-holdoff), and
// returns the reloads the burst caused.
func runBurst(t *testing.T, host string, changes int, spacing time.Duration) burst {
	t.Helper()
	b := startBackends(t, "web")
	ing := func(i int) string {
		return ingressYAML("burst", host, route{fmt.Sprintf("/v%d", i), "Prefix", "web"})
	}
	r := burst{c: startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"ingress.yaml": ing(0),
	}})}
	c := r.c
	c.WaitServed(t, host, "/v0", "web")
	r.before = c.Generation(t)

	began := time.Now()
	for i := 1; i <= changes; i++ {
		if d := time.Until(began.Add(time.Duration(i-1) * spacing)); d > 0 {
			time.Sleep(d)
		}
		c.writeManifest(t, "ingress.yaml", ing(i))
	}
	r.wrote = time.Since(began)
	c.WaitServed(t, host, fmt.Sprintf("/v%d", changes), "web")
	r.servedAfter = time.Since(began) - r.wrote

	deadline := time.Now().Add(framework.ReloadTimeout)
	last, lastChange := c.Generation(t), time.Now()
	for time.Since(lastChange) < 1500*time.Millisecond {
		require.True(t, time.Now().Before(deadline), "reloads did not settle within %s", framework.ReloadTimeout)
		time.Sleep(100 * time.Millisecond)
		if g := c.Generation(t); g != last {
			last, lastChange = g, time.Now()
		}
	}
	r.last = last
	for _, ev := range c.Reloads(t) {
		if ev.Generation > r.before {
			r.events = append(r.events, ev)
			assert.Equal(t, "success", ev.Result, ev.Message)
		}
	}
	return r
}
