//go:build linux

package local

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// inspect runs the built portico binary's `inspect ARGS` against c's debug
// address (argv0 "kubectl-portico" runs it through a link of that name, as
// kubectl runs plugins) and returns stdout, failing on a non-zero exit.
func (c *controller) inspect(t *testing.T, argv0 string, args ...string) string {
	t.Helper()
	bin := suite.Portico
	if argv0 != "" {
		bin = filepath.Join(t.TempDir(), argv0)
		require.NoError(t, os.Symlink(suite.Portico, bin))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"inspect"}, append(args, "--address", "http://127.0.0.1:"+strconv.Itoa(c.DebugPort))...)
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s %v: %s", filepath.Base(bin), args, stderr.String())
	return string(out)
}

// TestInspect runs every view of `portico inspect` against a controller
// with real nginx serving a TLS Ingress, and checks what each shows
// against what the test made: the host, the backend's address, the
// Secret's certificate and the reloads.
func TestInspect(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "web")
	const host = "inspect.example.com"
	pair := framework.NewKeyPair(t, host)
	c := startController(t, options{files: map[string]string{
		"web.yaml":     serviceYAML("web", b["web"]),
		"secret.yaml":  secretYAML("inspect-tls", pair),
		"ingress.yaml": tlsIngressYAML("shop", "web", map[string]string{host: "inspect-tls"}, host),
		"lost.yaml":    ingressYAML("lost", "lost.example.com", route{"/", "Prefix", "gone"}),
	}})
	// Ready means the first config is live; the certificate nginx
	// presents is the Secret's (plain HTTP only redirects to HTTPS).
	require.True(t, c.MustPeerCertificate(t, host).Equal(pair.Leaf))
	endpoint := b["web"].addr.String()

	t.Run("ingresses", func(t *testing.T) {
		table := c.inspect(t, "", "ingresses")
		t.Logf("portico inspect ingresses:\n%s", table)
		assert.Regexp(t, `(?m)^default\s+shop\s+`+host+`\s+/\s+prefix\s+default/web:80\s+\S+\s+default/inspect-tls`, table)
		assert.Contains(t, table, "ServiceNotFound", "the finding about lost's missing Service")

		var list []struct {
			Namespace, Name string
			Served          bool
			Paths           []struct{ Host, Path, Service, Upstream, TLSSecret string } `json:"paths"`
			Findings        []struct{ Reason, Severity string }                         `json:"findings"`
		}
		require.NoError(t, json.Unmarshal([]byte(c.inspect(t, "", "ingresses", "-o", "json")), &list))
		require.Len(t, list, 2)
		assert.Equal(t, "lost", list[0].Name)
		require.NotEmpty(t, list[0].Findings)
		shop := list[1]
		assert.Equal(t, "shop", shop.Name)
		assert.True(t, shop.Served)
		require.NotEmpty(t, shop.Paths)
		assert.Equal(t, host, shop.Paths[0].Host)
		assert.Equal(t, "default/web:80", shop.Paths[0].Service)
	})

	t.Run("certs", func(t *testing.T) {
		table := c.inspect(t, "kubectl-portico", "certs")
		t.Logf("kubectl portico inspect certs:\n%s", table)
		notAfter := pair.Leaf.NotAfter.UTC().Format(time.RFC3339)
		assert.Regexp(t, `(?m)^default\s+inspect-tls\s+`+host+`\s+.*`+notAfter, table)

		raw := c.inspect(t, "", "certs", "-o", "json")
		var list []struct {
			Namespace, Secret string
			Hosts             []string
			NotAfter          time.Time `json:"not_after"`
			Serial            string
			SHA256            string `json:"sha256_fingerprint"`
		}
		require.NoError(t, json.Unmarshal([]byte(raw), &list))
		require.Len(t, list, 1)
		assert.Equal(t, "inspect-tls", list[0].Secret)
		assert.Equal(t, []string{host}, list[0].Hosts)
		assert.True(t, pair.Leaf.NotAfter.Equal(list[0].NotAfter), "not_after %s, certificate %s", list[0].NotAfter, pair.Leaf.NotAfter)
		assert.Equal(t, pair.Leaf.SerialNumber.Text(16), list[0].Serial)
		assert.Len(t, list[0].SHA256, 95)
		// The tenant's Secret shows as names, dates and a fingerprint:
		// nothing of its PEM is in the endpoint's answer.
		body := string(c.MustStatusGet(t, "/debug/certs"))
		for _, secret := range []string{string(pair.KeyPEM), string(pair.CertPEM)} {
			for _, line := range strings.Split(secret, "\n") {
				if len(line) >= 16 {
					assert.NotContains(t, body, line)
				}
			}
		}
		assert.NotContains(t, body, "PRIVATE")
	})

	t.Run("backends", func(t *testing.T) {
		table := c.inspect(t, "", "backends")
		t.Logf("portico inspect backends:\n%s", table)
		assert.Regexp(t, `(?m)^default\.web\.80\s+1\s+\d+\s+`+endpoint+`$`, table)
		var pools []struct {
			Name      string
			Endpoints []string
		}
		require.NoError(t, json.Unmarshal([]byte(c.inspect(t, "", "backends", "-o", "json")), &pools))
		found := false
		for _, p := range pools {
			if p.Name == "default.web.80" {
				found = true
				assert.Equal(t, []string{endpoint}, p.Endpoints)
			}
		}
		assert.True(t, found, "pool default.web.80 in %+v", pools)
	})

	t.Run("conf", func(t *testing.T) {
		conf := c.inspect(t, "", "conf")
		onDisk, err := os.ReadFile(filepath.Join(c.ConfigDir, "nginx.conf"))
		require.NoError(t, err)
		assert.Equal(t, string(onDisk), conf, "conf prints the live nginx.conf")
		block := c.inspect(t, "", "conf", "--server", host)
		assert.True(t, strings.HasPrefix(strings.TrimSpace(block), "server {"), block)
		assert.Contains(t, block, host)
		assert.NotContains(t, block, "lost.example.com")
		assert.Equal(t, 1, strings.Count(block, "server_name "), "one server block")
	})

	t.Run("reloads", func(t *testing.T) {
		before := c.Generation(t)
		ev := c.update(t, "more.yaml", ingressYAML("more", "more.example.com", route{"/", "Prefix", "web"}))
		require.Greater(t, ev.Generation, before)
		table := c.inspect(t, "", "reloads", "--limit", "1")
		t.Logf("portico inspect reloads --limit 1:\n%s", table)
		assert.Regexp(t, `(?m)^\S+Z\s+success\s+`+strconv.FormatUint(ev.Generation, 10)+`\s+\S+\s+1\s+added more\.example\.com$`, table)
		var events []struct {
			Result     string
			Generation uint64
		}
		require.NoError(t, json.Unmarshal([]byte(c.inspect(t, "", "reloads", "-o", "json")), &events))
		require.GreaterOrEqual(t, len(events), 2)
		assert.Equal(t, ev.Generation, events[0].Generation)
		assert.Equal(t, "success", events[len(events)-1].Result, "the first reload")
	})
}
