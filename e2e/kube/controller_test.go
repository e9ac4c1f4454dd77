//go:build linux

package kube

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/portico-ingress/portico/e2e/framework"
)

// controllerOptions configures one controller start.
type controllerOptions struct {
	// Namespace is the namespace the test works in; the controller watches
	// only it (--watch-namespace) unless Args say otherwise. The controller
	// itself lives in deploy/'s namespace (POD_NAMESPACE=portico).
	Namespace string
	// Kubeconfig is the kubeconfig file; "" means deploy/'s portico
	// ServiceAccount, so the RBAC rules in deploy/rbac.yaml are tested.
	Kubeconfig string
	// ElectionID is the Lease name; "" gives each controller its own, so
	// parallel tests do not elect each other.
	ElectionID string
	// PodName and PodUID are POD_NAME and POD_UID; "" generates them.
	PodName, PodUID string
	// Args are extra flags, appended last so they override the defaults.
	Args []string
	// Env holds extra KEY=VALUE environment variables.
	Env []string
	// NoWait returns as soon as the process started, without waiting for
	// /readyz (for tests of a controller that must not become ready).
	NoWait bool
	// Resolver is --resolver; "" means 127.0.0.1, where nothing answers
	// for the suite's names. A test's own DNS server (pkg/testutil/dnstest)
	// is IP:PORT.
	Resolver string
}

// controller is one running `portico controller --kubeconfig ... --start-nginx`.
type controller struct {
	*framework.Controller
	opts controllerOptions
}

// startController runs the controller as deploy/'s ServiceAccount,
// watching namespace, with extra flags args, and returns once /readyz
// answers 200. It and its nginx are stopped in t.Cleanup.
func startController(t testing.TB, namespace string, args ...string) *controller {
	t.Helper()
	return startControllerWith(t, controllerOptions{Namespace: namespace, Args: args})
}

// startControllerWith runs the controller as opts says.
func startControllerWith(t testing.TB, opts controllerOptions) *controller {
	t.Helper()
	requireEnv(t)
	require.NotEmpty(t, opts.Namespace, "controllerOptions.Namespace")
	if opts.Kubeconfig == "" {
		opts.Kubeconfig = env.porticoKubeconfig
	}
	if opts.ElectionID == "" {
		opts.ElectionID = "portico-e2e-" + randomHex(4)
	}
	if opts.PodName == "" {
		opts.PodName = "portico-" + randomHex(4)
	}
	if opts.PodUID == "" {
		opts.PodUID = string(uuid.NewUUID())
	}
	environ := append(controllerEnviron(),
		"POD_NAME="+opts.PodName, "POD_NAMESPACE="+deployNamespace, "POD_UID="+opts.PodUID)
	c := env.StartController(t, framework.ControllerConfig{
		Source: []string{"--kubeconfig", opts.Kubeconfig,
			"--election-id", opts.ElectionID,
			"--watch-namespace", opts.Namespace},
		Args:     opts.Args,
		Env:      append(environ, opts.Env...),
		Resolver: opts.Resolver,
		NoWait:   opts.NoWait,
	})
	return &controller{Controller: c, opts: opts}
}

// controllerEnviron is the test binary's environment without what would
// point the controller anywhere but the suite's API server.
func controllerEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "KUBECONFIG", strings.HasPrefix(k, "KUBERNETES_"), strings.HasPrefix(k, "POD_"),
			strings.EqualFold(k, "http_proxy"), strings.EqualFold(k, "https_proxy"), strings.EqualFold(k, "all_proxy"):
			continue
		}
		out = append(out, kv)
	}
	return out
}
