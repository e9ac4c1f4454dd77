//go:build linux

package local

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// TestBasicAuthAnnotations shows auth-type basic on real traffic: no or
// wrong credentials get 401 with the realm, the right ones reach the
// backend; the htpasswd file is mode 0600, owned by the nginx workers.
func TestBasicAuthAnnotations(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	// alice / s3cret (openssl passwd -apr1 -salt abcdefgh s3cret)
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: users}\nstringData:\n  auth: \"alice:$apr1$abcdefgh$M2T3erDstkD7SsE2QQnfH0\"\n"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"secret.yaml":   secret,
		"app.yaml": annotate(ingressYAML("app", "private.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-type": "basic", p + "auth-secret": "users", p + "auth-realm": `"Staff only"`,
		}),
	}})
	// nginx workers run as nobody and open the htpasswd file per request;
	// t.TempDir's directories are 0700, so let other users traverse them as
	// /etc/portico (0711) allows in a real deployment.
	for dir := c.ConfigDir; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		require.NoError(t, os.Chmod(dir, 0o711))
	}
	get := func(user, pass string) *http.Response {
		req, err := http.NewRequest(http.MethodGet, "http://placeholder.invalid/", nil)
		require.NoError(t, err)
		req.Host = "private.example.com"
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp
	}
	require.Eventually(t, func() bool { return get("", "").StatusCode == http.StatusUnauthorized }, framework.RouteTimeout, framework.PollInterval)
	assert.Contains(t, get("", "").Header.Get("WWW-Authenticate"), `realm="Staff only"`)
	assert.Equal(t, http.StatusUnauthorized, get("alice", "wrong").StatusCode)
	assert.Equal(t, http.StatusOK, get("alice", "s3cret").StatusCode)

	files, err := filepath.Glob(filepath.Join(c.ConfigDir, "auth", "*.htpasswd"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	fi, err := os.Stat(files[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.NotContains(t, c.Logs.String(), "$apr1$", "password hashes stay out of the logs")
	assert.NotContains(t, string(c.MustStatusGet(t, "/debug/config")), "$apr1$")
}

// TestAuthMapAnnotation shows auth-secret-type auth-map on real traffic:
// each key of the Secret is a user and its value the apr1 hash; the right
// password reaches the backend, a wrong one or none gets 401.
func TestAuthMapAnnotation(t *testing.T) {
	t.Parallel()
	b := startBackends(t, "app")
	const p = "nginx.ingress.kubernetes.io/"
	// alice / s3cret (openssl passwd -apr1 -salt abcdefgh s3cret)
	secret := "apiVersion: v1\nkind: Secret\nmetadata: {name: users}\nstringData:\n  alice: \"$apr1$abcdefgh$M2T3erDstkD7SsE2QQnfH0\"\n"
	c := startController(t, options{files: map[string]string{
		"services.yaml": servicesYAML(b),
		"secret.yaml":   secret,
		"app.yaml": annotate(ingressYAML("app", "private.example.com", route{"/", "Prefix", "app"}), map[string]string{
			p + "auth-type": "basic", p + "auth-secret": "users", p + "auth-secret-type": "auth-map",
		}),
	}})
	// nginx workers run as nobody and open the htpasswd file per request.
	for dir := c.ConfigDir; dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		require.NoError(t, os.Chmod(dir, 0o711))
	}
	get := func(user, pass string) int {
		req, err := http.NewRequest(http.MethodGet, "http://placeholder.invalid/", nil)
		require.NoError(t, err)
		req.Host = "private.example.com"
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := c.Client.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get("", "") == http.StatusUnauthorized }, framework.RouteTimeout, framework.PollInterval)
	assert.Equal(t, http.StatusOK, get("alice", "s3cret"), "the right password reaches the backend")
	assert.Equal(t, http.StatusUnauthorized, get("alice", "wrong"))
	assert.Equal(t, http.StatusUnauthorized, get("bob", "s3cret"), "a user not in the map is refused")
}
