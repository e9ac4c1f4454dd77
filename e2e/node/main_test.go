//go:build linux

// Package node is the end-to-end suite of the product as users install it:
// the container image, run as the two-container Pod of deploy/ (and of the
// Helm chart) by a real kubelet.
//
// TestMain starts a one-node cluster on this machine: etcd, kube-apiserver,
// kube-controller-manager (Deployments, ReplicaSets, EndpointSlices) and
// kube-scheduler from hack/build-kube.sh, containerd v2 from
// hack/build-containerd.sh with Debian's runc and CNI plugins, and a
// kubelet. The Pod network is a bridge on the host in 198.19.S.0/25; the
// Service range is 198.19.S.128/25, and one DNAT rule stands in for
// kube-proxy for the "kubernetes" Service only, so Pods reach the API server
// as in any cluster. Clients reach Pods on their Pod IPs. The image the
// tests run is `make image`'s (PORTICO_IMAGE, localhost/portico:latest),
// copied from podman's store into containerd; the sandbox ("pause") and
// echo-server images are made from e2e/pause and e2e/echoserver.
//
// Everything is undone at the end, also when a test fails: Pods deleted,
// kubelet and controller-manager stopped before the API server, the
// containers, mounts, cgroups, the bridge, the DNAT rule and the temporary
// directory removed. The kubelet runs without iptables on its PATH, so it
// adds no KUBE-FIREWALL chain (which drops traffic other suites send to
// loopback). A run that died is cleaned up by its reaper, or by the next run.
//
// Environment:
//
//	PORTICO_E2E=0         skip the suite
//	PORTICO_REQUIRE_E2E=1 a missing prerequisite fails instead of skipping
//	PORTICO_IMAGE         the image to run (default localhost/portico:latest)
package node

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

	"github.com/portico-ingress/portico/e2e/framework"
)

const (
	// tempPrefix names the suite's temporary directory, followed by the
	// test binary's pid, so a later run can tell a dead run's leftovers.
	tempPrefix = "portico-node-"
	// cleanupEnv makes the test binary clean up the node of the directory
	// it names and exit: the reaper runs it when the suite dies.
	cleanupEnv = "PORTICO_NODE_CLEANUP"
	// defaultImage is what `make image` builds.
	defaultImage = "localhost/portico:latest"
	// reaperName is the reaper shell's $0.
	reaperName = "portico-node-reaper"
)

// environment is what TestMain set up for every test of the package.
type environment struct {
	framework.Suite
	node *node
	// repoRoot is the module root.
	repoRoot string
	// reaper cleans the node up if the test binary dies without teardown.
	reaper *framework.Process
}

var (
	// env is set by TestMain when the node is up; nil when skipping.
	env *environment
	// skipReason says why every test of the package skips.
	skipReason string
)

// requireEnv skips the test when the suite does not run on this machine.
func requireEnv(t testing.TB) {
	t.Helper()
	if env == nil {
		reason := skipReason
		if reason == "" {
			reason = "the e2e/node environment is not set up"
		}
		t.Skip(reason)
	}
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(cleanupEnv); dir != "" {
		// Run by the reaper of a suite that died: clean up and exit.
		if err := cleanNode(dir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e/node: cleanup:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	e := &environment{Suite: framework.Suite{Children: framework.NewSupervisor(), Ports: &framework.Ports{}}}
	return framework.SuiteMain{
		Name:     "e2e/node",
		Hint:     "run `make image` and hack/install-deps.sh as root",
		Missing:  missingPrerequisite,
		Setup:    e.setup,
		Teardown: e.teardown,
		Skip:     func(reason string) { skipReason = reason },
		Ready:    func() { env = e },
		Diagnose: func() {
			if e.node != nil {
				fmt.Fprint(os.Stderr, e.node.logTails())
			}
		},
	}.Run(m)
}

// missingPrerequisite names what this machine lacks to run the suite, or "".
func missingPrerequisite() string {
	if runtime.GOOS != "linux" {
		return "a kubelet needs Linux"
	}
	if os.Geteuid() != 0 {
		return "not root: the kubelet and containerd run as root"
	}
	var missing []string
	for _, bin := range []string{"etcd", "ip", "iptables", "go", "bash", "podman", "mount", "umount"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	for _, file := range []string{runcBinary, filepath.Join(cniBinDir, "bridge"), filepath.Join(cniBinDir, "host-local"), filepath.Join(cniBinDir, "loopback")} {
		if _, err := os.Stat(file); err != nil {
			missing = append(missing, file)
		}
	}
	if len(missing) > 0 {
		return "not installed: " + strings.Join(missing, ", ")
	}
	if err := exec.Command("podman", "image", "exists", imageName()).Run(); err != nil {
		return fmt.Sprintf("image %s is not in podman's store (make image builds it)", imageName())
	}
	return ""
}

// imageName is the image under test.
func imageName() string {
	if s := os.Getenv("PORTICO_IMAGE"); s != "" {
		return s
	}
	return defaultImage
}

// setup brings the node up. Whatever it started before failing is left in
// e for teardown.
func (e *environment) setup() error {
	var err error
	if e.repoRoot, err = framework.ModuleRoot(); err != nil {
		return err
	}
	sweepLeftovers()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", tempPrefix, os.Getpid()))
	if err != nil {
		return err
	}
	e.node = &node{dir: dir, suite: &e.Suite}
	if e.reaper, err = startReaper(e.Children, dir); err != nil {
		return err
	}

	// The builds are independent of each other.
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
			fmt.Fprintf(os.Stderr, "e2e/node: %s in %s\n", what, time.Since(started).Round(time.Millisecond))
		})
	}
	do("Kubernetes binaries", func() error {
		d, err := framework.KubeBinaries(e.repoRoot)
		e.node.kubeBin = d
		return err
	})
	do("containerd binaries", func() error {
		d, err := framework.CachedBuild(e.repoRoot, "build-containerd.sh", "containerd")
		e.node.containerdBin = d
		return err
	})
	do("pause and echo-server binaries", func() error {
		return e.node.buildImageBinaries(e.repoRoot)
	})
	do("image saved from podman", func() error {
		return e.node.saveImage(imageName())
	})
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return e.node.start()
}

// teardown stops the node and every process the suite started, and
// removes what they left. Safe on a half set-up environment.
func (e *environment) teardown() error {
	var errs []error
	if e.node != nil {
		errs = append(errs, e.node.stop())
	}
	errs = append(errs, e.Children.StopAll(e.reaper))
	if e.node != nil {
		errs = append(errs, cleanNode(e.node.dir))
	}
	if e.reaper != nil {
		errs = append(errs, e.reaper.Stop())
	}
	return errors.Join(errs...)
}

// startReaper starts a shell that waits until it gets SIGTERM (teardown
// sends it; Pdeathsig sends it when the test binary dies any other way) and
// then runs the test binary again to clean up the node of dir.
func startReaper(children *framework.Supervisor, dir string) (*framework.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	const script = `bin=$1 dir=$2
cleanup() {
	[ -d "$dir" ] && ` + cleanupEnv + `="$dir" "$bin" >/dev/null 2>&1
	kill "$sleeper" 2>/dev/null
	exit 0
}
trap cleanup TERM INT HUP
while :; do sleep 3600 & sleeper=$!; wait "$sleeper"; done`
	return children.Start("reaper", exec.Command("bash", "-c", script, reaperName, self, dir))
}
