//go:build linux

// Package kube is the end-to-end suite against a real Kubernetes API server.
//
// TestMain starts, once for the package, etcd and kube-apiserver on loopback
// (token authentication, RBAC), a network namespace whose addresses in
// 198.18.0.0/15 stand for Pod IPs (the API server rejects loopback addresses
// in EndpointSlices), and builds the portico binary and the echo server.
// Each test creates its objects with client-go in a namespace of its own,
// runs `portico controller --kubeconfig` with a real nginx on loopback, and
// sends HTTP through nginx to echo servers inside the network namespace.
//
// Traffic only ever goes to loopback and to 198.18.0.0/15 (the dialers of
// the suite refuse anything else); every wait is bounded. Everything started
// is stopped: by t.Cleanup for a test, by the teardown of TestMain for the
// package (also when setup fails, TestMain panics, or on SIGINT/SIGTERM).
// If the test binary dies without teardown (a -timeout panic, SIGKILL), its
// children die with it (Pdeathsig), a reaper process removes the network
// namespace and the temporary directory, and the next run deletes whatever
// a dead run left behind.
//
// Environment:
//
//	PORTICO_E2E=0         skip the suite
//	PORTICO_REQUIRE_E2E=1 a missing prerequisite (root, etcd, ip, nginx, go) fails instead of skipping
package kube

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/portico-ingress/portico/e2e/framework"
)

// environment is what TestMain set up for every test of the package.
type environment struct {
	// Suite holds the portico and nginx binaries, the children (etcd,
	// kube-apiserver, controllers, echo servers) and the ports.
	framework.Suite

	// dir holds the binaries, etcd's data, certificates and kubeconfigs.
	dir string
	// repoRoot is the module root (the scripts and packages are built from it).
	repoRoot string

	echoBinary string
	// kubeBinaries is the directory hack/build-kube.sh built kube-apiserver into.
	kubeBinaries string

	// porticoHelp is `portico controller --help`, for tests of flags that
	// are still being written.
	porticoHelp string

	// controlPlane is etcd and kube-apiserver.
	controlPlane *framework.ControlPlane
	// apiURL is https://127.0.0.1:PORT of kube-apiserver.
	apiURL string
	// caPEM is the API server's serving certificate (self-signed, its own CA).
	caPEM []byte
	// adminToken authenticates as user admin in group system:masters.
	adminToken string
	// adminKubeconfig is a kubeconfig file for adminToken.
	adminKubeconfig string
	// porticoKubeconfig authenticates as deploy/'s portico ServiceAccount:
	// controllers run with it unless a test asks for the admin.
	porticoKubeconfig string
	// webhookClientCA and webhookClientKey are the client certificate
	// (its own CA) and key the API server presents to admission webhooks.
	webhookClientCA, webhookClientKey string
	// config and client are the admin's client-go configuration and clientset.
	config *rest.Config
	client kubernetes.Interface

	netns *netns
	// reaper removes the network namespace and dir if the test binary dies.
	reaper *framework.Process
}

var (
	// env is set by TestMain when the environment is up; nil when skipping.
	env *environment
	// skipReason says why every test of the package skips.
	skipReason string
)

// requireEnv skips the test when the suite does not run on this machine.
// Every helper that needs the environment calls it.
func requireEnv(t testing.TB) {
	t.Helper()
	if env == nil {
		reason := skipReason
		if reason == "" {
			reason = "the e2e/kube environment is not set up"
		}
		t.Skip(reason)
	}
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	e := &environment{Suite: framework.Suite{Children: framework.NewSupervisor(), Ports: &framework.Ports{}}}
	return framework.SuiteMain{
		Name:     "e2e/kube",
		Hint:     "run hack/install-deps.sh as root",
		Missing:  missingPrerequisite,
		Setup:    e.setup,
		Teardown: e.teardown,
		Skip:     func(reason string) { skipReason = reason },
		Ready:    func() { env = e },
	}.Run(m)
}

// missingPrerequisite names what this machine lacks to run the suite, or "".
func missingPrerequisite() string {
	if runtime.GOOS != "linux" {
		return "network namespaces need Linux"
	}
	if os.Geteuid() != 0 {
		return "not root: the suite creates a network namespace and a veth pair"
	}
	var missing []string
	for _, bin := range []string{"etcd", "ip", "go", "bash"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if framework.FindNginx() == "" {
		missing = append(missing, "nginx")
	}
	if len(missing) > 0 {
		return "not installed: " + strings.Join(missing, ", ")
	}
	return ""
}

// setup brings the environment up. Whatever it started before failing is
// left in e for teardown.
func (e *environment) setup() error {
	var err error
	if e.repoRoot, err = framework.ModuleRoot(); err != nil {
		return err
	}
	e.Nginx = framework.FindNginx()
	// Leftovers of runs that died without teardown go first, so their
	// addresses are free again.
	sweepLeftovers()
	if e.dir, err = os.MkdirTemp("", fmt.Sprintf("%s%d-", tempPrefix, os.Getpid())); err != nil {
		return err
	}
	name := fmt.Sprintf("%s%d", netnsPrefix, os.Getpid())
	if e.reaper, err = startReaper(e.Children, name, e.dir); err != nil {
		return err
	}

	// Builds, etcd and the network namespace are independent of each other.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	do := func(what string, f func() error) {
		wg.Go(func() {
			started := time.Now()
			err := f()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", what, err))
				return
			}
			fmt.Fprintf(os.Stderr, "e2e/kube: %s in %s\n", what, time.Since(started).Round(time.Millisecond))
		})
	}
	do("kube-apiserver binary", func() error {
		dir, err := framework.KubeBinaries(e.repoRoot)
		e.kubeBinaries = dir
		return err
	})
	do("built portico", func() error {
		e.Portico = filepath.Join(e.dir, "portico")
		if err := framework.GoBuild(e.repoRoot, e.Portico, "./cmd/portico"); err != nil {
			return err
		}
		out, err := exec.Command(e.Portico, "controller", "--help").CombinedOutput()
		if err != nil {
			return fmt.Errorf("portico controller --help: %w\n%s", err, out)
		}
		e.porticoHelp = string(out)
		return nil
	})
	do("built echoserver", func() error {
		e.echoBinary = filepath.Join(e.dir, "echoserver")
		return framework.GoBuild(e.repoRoot, e.echoBinary, "./e2e/echoserver")
	})
	do("network namespace ready", func() error {
		ns, err := createNetns(name)
		if ns != nil {
			mu.Lock()
			e.netns = ns
			mu.Unlock()
		}
		return err
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := e.startControlPlane(); err != nil {
		return err
	}
	return e.applyDeploy()
}

// teardown stops every process the suite started, newest first, deletes
// the network namespace and removes the temporary directory. It is safe to
// call on a half set-up environment.
func (e *environment) teardown() error {
	var errs []error
	// Children left running: controllers and backends of tests interrupted
	// by a signal, then kube-apiserver and etcd.
	if err := e.Children.StopAll(e.reaper); err != nil {
		errs = append(errs, err)
	}
	if e.netns != nil {
		if err := e.netns.delete(); err != nil {
			errs = append(errs, err)
		}
	}
	// The reaper deletes what it guards when it gets SIGTERM; by now that
	// is nothing, and it must not outlive the suite.
	if e.reaper != nil {
		if err := e.reaper.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if e.dir != "" {
		if err := os.RemoveAll(e.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
