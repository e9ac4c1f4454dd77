//go:build linux

package local

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestAccessAnnotations shows the access annotations on real traffic from
// 127.0.0.1: an allow list without it refuses, a deny list with it
// refuses, a rate limit answers 503 past its burst, and limit-whitelist
// exempts the client from the limit.
func TestAccessAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	ing := func(name string, ann map[string]string) string {
		return annotate(ingressYAML(name, name+".example.com", route{"/", "Prefix", "app"}), ann)
	}
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"allowed.yaml":  ing("allowed", map[string]string{p + "whitelist-source-range": `"127.0.0.0/8"`}),
		"walled.yaml":   ing("walled", map[string]string{p + "whitelist-source-range": `"192.0.2.0/24"`}),
		"denied.yaml":   ing("denied", map[string]string{p + "denylist-source-range": `"127.0.0.1"`}),
		"limited.yaml": ing("limited", map[string]string{p + "limit-rps": `"1"`,
			p + "limit-burst-multiplier": `"1"`}),
		"exempt.yaml": ing("exempt", map[string]string{p + "limit-rps": `"1"`,
			p + "limit-burst-multiplier": `"1"`, p + "limit-whitelist": `"127.0.0.1"`}),
	}})
	c.WaitServed(t, "allowed.example.com", "/", "app")
	assert.Equal(t, http.StatusForbidden, c.Get(t, "walled.example.com", "/").Status)
	assert.Equal(t, http.StatusForbidden, c.Get(t, "denied.example.com", "/").Status)

	// 1 r/s with a burst of 1: among 10 immediate requests most are refused.
	count := func(host string) (ok, limited int) {
		for range 10 {
			switch c.Get(t, host, "/").Status {
			case http.StatusOK:
				ok++
			case http.StatusServiceUnavailable:
				limited++
			}
		}
		return ok, limited
	}
	ok, limited := count("limited.example.com")
	assert.GreaterOrEqual(t, limited, 5, "limit-rps must refuse requests past the burst (%d ok)", ok)
	ok, limited = count("exempt.example.com")
	assert.Equal(t, 10, ok, "limit-whitelist exempts 127.0.0.1 (%d limited)", limited)
}

// TestLimitConnectionsAnnotation shows limit-connections on real traffic:
// with a limit of 1, three concurrent slow requests from 127.0.0.1 on
// separate connections get at least one 503, and at least one is served.
func TestLimitConnectionsAnnotation(t *testing.T) {
	t.Parallel()
	svc := startHandlerBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			sleepOr(r, 1500*time.Millisecond)
		}
		_, _ = w.Write([]byte("done\n"))
	})
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": svc,
		"one.yaml": annotate(ingressYAML("one", "one.example.com", route{"/", "Prefix", "slow"}),
			map[string]string{p + "limit-connections": `"1"`, p + "limit-burst-multiplier": `"1"`}),
	}})
	c.WaitStatus(t, "one.example.com", "/", http.StatusOK, "")

	const n = 3
	statuses := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Without keep-alive each request has its own connection.
			r, err := framework.DoGet(framework.NewHTTPClient(c.HTTPPort, false), "http", "one.example.com", "/slow")
			statuses[i], errs[i] = r.Status, err
		}()
	}
	wg.Wait()
	ok, limited := 0, 0
	for i := range n {
		require.NoError(t, errs[i])
		switch statuses[i] {
		case http.StatusOK:
			ok++
		case http.StatusServiceUnavailable:
			limited++
		}
	}
	assert.Positive(t, limited, "limit-connections 1 must refuse concurrent requests: %v", statuses)
	assert.Positive(t, ok, "one request at a time is served: %v", statuses)
	assert.Equal(t, n, ok+limited, "%v", statuses)
}

// TestLimitRPMAnnotation shows limit-rpm on real traffic: at 1 request per
// minute with a burst of 1, at least 3 of 5 immediate requests get 503,
// while another Ingress of the same backend is not limited.
func TestLimitRPMAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"free.yaml":     ingressYAML("free", "free.example.com", route{"/", "Prefix", "app"}),
		"rpm.yaml": annotate(ingressYAML("rpm", "rpm.example.com", route{"/", "Prefix", "app"}),
			map[string]string{p + "limit-rpm": `"1"`, p + "limit-burst-multiplier": `"1"`}),
	}})
	// Wait on the unlimited Ingress: every request to the limited one counts.
	c.WaitServed(t, "free.example.com", "/", "app")
	var statuses []int
	limited := 0
	for range 5 {
		s := c.Get(t, "rpm.example.com", "/").Status
		statuses = append(statuses, s)
		if s == http.StatusServiceUnavailable {
			limited++
		}
	}
	assert.GreaterOrEqual(t, limited, 3, "limit-rpm 1 with a burst of 1 lets at most 2 of 5 through: %v", statuses)
	assert.Equal(t, http.StatusOK, statuses[0], "the first request is within the limit: %v", statuses)
	for range 5 {
		assert.Equal(t, http.StatusOK, c.Get(t, "free.example.com", "/").Status, "another Ingress is not limited")
	}
}
