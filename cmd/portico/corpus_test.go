package main

import (
	"bytes"
	"cmp"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/source/manifests"
	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
	"github.com/portico-ingress/portico/pkg/verdict"
)

var updateCorpus = flag.Bool("update", false, "rewrite testdata/corpus.golden from the current verdicts")

const (
	// corpusDir holds ingress-nginx manifests as people write them, one
	// namespace per scenario (docs/migration.md).
	corpusDir = "testdata/corpus"
	// corpusGolden records every Ingress's verdict and reasons, so a change
	// shows which Ingresses changed verdict.
	corpusGolden = "testdata/corpus.golden"
	// corpusMinIngresses keeps the corpus from shrinking: dropping a hard
	// Ingress would raise the share without fixing anything.
	corpusMinIngresses = 39
)

// corpusFlags run Portico as an ingress-nginx user switching in place:
// Portico takes over the IngressClass "nginx" (controller
// k8s.io/ingress-nginx), reads the controller ConfigMap, and allows snippets
// in the one namespace whose manifests use them, as their ConfigMap allowed
// (allow-snippet-annotations). --resolver keeps the output independent of
// the machine's /etc/resolv.conf.
var corpusFlags = []string{
	"--controller-class", "k8s.io/ingress-nginx",
	"--allow-snippet-annotations", "--snippet-namespaces", "legacy",
	"--resolver", "127.0.0.1",
}

// corpusConfig is one controller ConfigMap the corpus is measured with.
type corpusConfig struct {
	name      string
	configMap string
	// floor is the lowest share (percent) of Ingresses served clean that
	// the test accepts: today's measured value; raise it as fixes land.
	floor float64
	// nginxBroken is set while the rendered config is known to fail nginx -t
	// (then nothing is served); the test fails once it passes, so the entry
	// is removed and the floor raised in the fixing commit.
	nginxBroken string
}

var corpusConfigs = []corpusConfig{
	{name: "controller", configMap: "ingress-nginx/ingress-nginx-controller", floor: 87.1},
	{name: "json-logs", configMap: "ingress-nginx/ingress-nginx-logs", floor: 87.1},
}

// corpusResult is what one configuration gives the corpus.
type corpusResult struct {
	report  checkReport
	nginxOK bool
	nginxT  string // nginx -t's complaint when it fails
	clean   int    // Ingresses served without warnings (0 when nginx -t fails)
}

// TestCorpus runs portico check and portico render --check over the corpus
// of real-world ingress-nginx manifests and reports the share of Ingresses
// served without warnings: verdict "served" (no finding, no unsupported or
// invalid annotation) in a config that passes nginx -t.
func TestCorpus(t *testing.T) {
	nginxBin := nginxtest.Binary(t)
	var golden strings.Builder
	golden.WriteString("# Verdicts of portico check over testdata/corpus; regenerate with\n" +
		"# go test ./cmd/portico -run TestCorpus -update (docs/migration.md)\n")
	for _, c := range corpusConfigs {
		res := measureCorpus(t, nginxBin, c)
		total := len(res.report.Ingresses)
		require.GreaterOrEqual(t, total, corpusMinIngresses, "the corpus only grows (add Ingresses, do not remove them)")
		share := 100 * float64(res.clean) / float64(total)
		nginxT := "ok"
		if !res.nginxOK {
			nginxT = "fail"
		}
		t.Logf("CORPUS config=%s served_clean=%d total=%d share=%.1f%% nginx_t=%s", c.name, res.clean, total, share, nginxT)
		for _, s := range scenarioVerdicts(res) {
			t.Logf("CORPUS config=%s %s", c.name, s)
		}
		breakdown := reasonBreakdown(res)
		for _, b := range breakdown {
			t.Logf("CORPUS config=%s blocked_by %s", c.name, b)
		}

		if c.nginxBroken == "" {
			assert.True(t, res.nginxOK, "config %s: render --check must pass nginx -t on what is served:\n%s", c.name, res.nginxT)
		} else {
			assert.False(t, res.nginxOK, "config %s now passes nginx -t: remove nginxBroken (%s), raise the floor and run -update", c.name, c.nginxBroken)
		}
		assert.GreaterOrEqual(t, share, c.floor, "config %s: share served clean fell below the floor", c.name)

		fmt.Fprintf(&golden, "\n## config %s (--configmap %s): nginx -t %s, served clean %d/%d\n", c.name, c.configMap, nginxT, res.clean, total)
		if !res.nginxOK {
			fmt.Fprintf(&golden, "nginx -t fails, so nothing below is served: %s\n", res.nginxT)
		}
		for _, r := range res.report.Ingresses {
			line := r.Namespace + "/" + r.Name + "\t" + r.Verdict
			if rs := ingressReasons(r); len(rs) > 0 {
				line += "\t" + strings.Join(rs, " ")
			}
			golden.WriteString(line + "\n")
		}
		for _, f := range res.report.Findings {
			fmt.Fprintf(&golden, "object %s\t%s\t%s\n", f.Object, f.Reason, f.Message)
		}
		golden.WriteString("blocked by (Ingresses not served clean, per reason):\n")
		for _, b := range breakdown {
			golden.WriteString("  " + b + "\n")
		}
	}

	if *updateCorpus {
		require.NoError(t, os.WriteFile(corpusGolden, []byte(golden.String()), 0o644))
	}
	want, err := os.ReadFile(corpusGolden)
	require.NoError(t, err, "run go test ./cmd/portico -run TestCorpus -update")
	assert.Equal(t, string(want), golden.String(), "verdicts changed: check the diff, then run with -update")
}

// measureCorpus runs check and render --check with one ConfigMap.
func measureCorpus(t *testing.T, nginxBin string, c corpusConfig) corpusResult {
	t.Helper()
	args := slices.Concat([]string{"-f", corpusDir, "--configmap", c.configMap}, corpusFlags)
	report, code := runCheckJSON(t, args...)
	require.Contains(t, []int{0, 1}, code, "config %s: check must judge the corpus, not fail on it", c.name)
	require.Empty(t, report.Problems, "config %s: the corpus files parse", c.name)

	var conf, errOut bytes.Buffer
	code = run(slices.Concat([]string{"render", "--check", "--nginx-binary", nginxBin}, args), &conf, &errOut)
	require.Contains(t, []int{0, 1}, code, "config %s: render: %s", c.name, errOut.String())
	res := corpusResult{report: report, nginxOK: strings.Contains(errOut.String(), "nginx -t: configuration is valid\n")}
	if !res.nginxOK {
		m := regexp.MustCompile(`\[emerg\] \d+#\d+: ([^\n]*)`).FindStringSubmatch(errOut.String())
		require.NotNil(t, m, "config %s: render failed without nginx -t's complaint: %s", c.name, errOut.String())
		res.nginxT = m[1]
		return res
	}
	// What check calls served is in the config nginx accepted.
	hosts := corpusHosts(t)
	served := serverNames(conf.String())
	for _, r := range report.Ingresses {
		if r.Verdict == verdict.NotServed {
			continue
		}
		require.NotEmpty(t, hosts[r.Namespace+"/"+r.Name], "%s/%s has hosts", r.Namespace, r.Name)
		for _, host := range hosts[r.Namespace+"/"+r.Name] {
			assert.True(t, served[host], "config %s: %s/%s is %s but %s is no server_name in nginx.conf",
				c.name, r.Namespace, r.Name, r.Verdict, host)
		}
		if r.Verdict == verdict.Served {
			res.clean++
		}
	}
	return res
}

// corpusHosts returns the hosts of the corpus's Ingresses by namespace/name.
func corpusHosts(t *testing.T) map[string][]string {
	t.Helper()
	snap, problems := manifests.New(corpusDir, nil).Load()
	require.Empty(t, problems)
	out := map[string][]string{}
	for _, ing := range snap.Ingresses {
		for _, rule := range ing.Spec.Rules {
			out[ing.Namespace+"/"+ing.Name] = append(out[ing.Namespace+"/"+ing.Name], rule.Host)
		}
	}
	return out
}

// serverNames returns the names of the server blocks of a rendered nginx.conf.
func serverNames(conf string) map[string]bool {
	out := map[string]bool{}
	for _, line := range regexp.MustCompile(`(?m)^\s*server_name ([^;]*);`).FindAllStringSubmatch(conf, -1) {
		for _, name := range regexp.MustCompile(`"([^"]*)"`).FindAllStringSubmatch(line[1], -1) {
			out[name[1]] = true
		}
	}
	return out
}

// ingressReasons lists why an Ingress is not served clean, one token per
// reason: unsupported:KEY, invalid:KEY, finding:Reason.
func ingressReasons(r verdict.Report) []string {
	var out []string
	for _, u := range r.Unsupported {
		out = append(out, "unsupported:"+strings.TrimPrefix(u.Key, annPrefix))
	}
	for _, i := range r.Invalid {
		out = append(out, "invalid:"+strings.TrimPrefix(i.Key, annPrefix))
	}
	for _, f := range r.Findings {
		out = append(out, "finding:"+f.Reason)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// reasonBreakdown counts, per reason, the Ingresses it keeps from being
// served clean, most first; a failing nginx -t blocks every Ingress.
func reasonBreakdown(res corpusResult) []string {
	count := map[string]int{}
	for _, r := range res.report.Ingresses {
		if !res.nginxOK {
			count["nginx-t:"+strings.ReplaceAll(res.nginxT, " ", "_")]++
		}
		for _, reason := range ingressReasons(r) {
			count[reason]++
		}
	}
	type entry struct {
		reason string
		n      int
	}
	var entries []entry
	for k, n := range count {
		entries = append(entries, entry{k, n})
	}
	slices.SortFunc(entries, func(a, b entry) int { return cmp.Or(cmp.Compare(b.n, a.n), cmp.Compare(a.reason, b.reason)) })
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		out = append(out, fmt.Sprintf("%s ingresses=%d", e.reason, e.n))
	}
	return out
}

// scenarioVerdicts summarises the verdicts per scenario (namespace).
func scenarioVerdicts(res corpusResult) []string {
	type tally struct{ clean, warn, notServed, total int }
	by := map[string]*tally{}
	for _, r := range res.report.Ingresses {
		s := by[r.Namespace]
		if s == nil {
			s = &tally{}
			by[r.Namespace] = s
		}
		s.total++
		switch {
		case !res.nginxOK || r.Verdict == verdict.NotServed:
			s.notServed++
		case r.Verdict == verdict.Warnings:
			s.warn++
		default:
			s.clean++
		}
	}
	var out []string
	for ns, s := range by {
		out = append(out, fmt.Sprintf("scenario=%s served_clean=%d warnings=%d not_served=%d total=%d", ns, s.clean, s.warn, s.notServed, s.total))
	}
	slices.Sort(out)
	return out
}
