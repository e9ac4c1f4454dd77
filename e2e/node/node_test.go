//go:build linux

package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-ingress/portico/e2e/framework"
)

// Fixed facts of the machines the suite runs on (Debian's packages).
const (
	runcBinary = "/usr/sbin/runc"
	cniBinDir  = "/usr/lib/cni"
	// nodeName is the kubelet's Node; one node per run.
	nodeName = "portico-node"
	// bridgePrefix names the Pod network's bridge, followed by the pid.
	bridgePrefix = "ptn"
	// kubeletPath is the kubelet's PATH: no sbin directory, so no
	// iptables, so the kubelet adds no chains (KUBE-FIREWALL drops
	// traffic other suites on this machine send to loopback).
	kubeletPath = "/usr/local/bin:/usr/bin:/bin"
	// nodeReadyTimeout bounds containerd, the kubelet and the Node's
	// Ready condition; about 5 s here.
	nodeReadyTimeout = 90 * time.Second
)

// node is the one-node cluster of the suite.
type node struct {
	dir   string
	suite *framework.Suite

	kubeBin, containerdBin string
	pauseBinary            string
	echoBinary             string
	// imageArchive is the image under test, saved from podman's store.
	imageArchive string

	subnet int // S of 198.19.S.0/24
	bridge string
	// nodeIP is the bridge's address: the Pods' gateway, the Node's
	// InternalIP and the API server's address.
	nodeIP string

	cp                                      *framework.ControlPlane
	containerd, kubelet, manager, scheduler *framework.Process
	// dnat is the rule that sends the "kubernetes" Service to the API server.
	dnat []string
}

// client is the admin's clientset.
func (n *node) client() kubernetes.Interface { return n.cp.Client }

// podCIDR is the range the CNI plugin hands out addresses from.
func (n *node) podCIDR() string { return fmt.Sprintf("198.19.%d.0/25", n.subnet) }

// serviceCIDR is the Service range, beside the Pod range.
func (n *node) serviceCIDR() string { return fmt.Sprintf("198.19.%d.128/25", n.subnet) }

// containerdSocket is the CRI endpoint.
func (n *node) containerdSocket() string { return filepath.Join(n.dir, "containerd.sock") }

// start brings up the bridge, the control plane, containerd, the images,
// the kubelet, the controller-manager and the scheduler, and waits until
// the Node is Ready and the controller-manager has made the default
// ServiceAccount.
func (n *node) start() error {
	started := time.Now()
	if err := n.createBridge(); err != nil {
		return err
	}
	kubeletToken := framework.RandomHex(24)
	cp, err := n.suite.StartControlPlane(framework.ControlPlaneConfig{
		Dir:           filepath.Join(n.dir, "control-plane"),
		APIServer:     filepath.Join(n.kubeBin, "kube-apiserver"),
		Name:          "e2e/node",
		Address:       n.nodeIP,
		ServiceCIDR:   n.serviceCIDR(),
		Authorization: "Node,RBAC",
		Tokens:        []string{kubeletToken + ",system:node:" + nodeName + ",kubelet-uid,system:nodes"},
		// kubectl logs and exec would otherwise resolve the node's name.
		Args: []string{"--kubelet-preferred-address-types=InternalIP"},
	})
	n.cp = cp
	if err != nil {
		return err
	}
	if err := n.addServiceDNAT(); err != nil {
		return err
	}
	if err := n.startContainerd(); err != nil {
		return err
	}
	if err := n.importImages(); err != nil {
		return err
	}
	if err := n.startManagerAndScheduler(); err != nil {
		return err
	}
	if err := n.startKubelet(kubeletToken); err != nil {
		return err
	}
	if err := n.waitReady(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "e2e/node: node %s Ready at %s, %s after its start\n", nodeName, n.nodeIP, time.Since(started).Round(time.Millisecond))
	return nil
}

// createBridge makes the Pod network's bridge with the gateway address in
// a 198.19.S.0/24 no other address of the host is in. The CNI bridge
// plugin finds it in place.
func (n *node) createBridge() error {
	unlock, err := lockNetwork()
	if err != nil {
		return err
	}
	defer unlock()
	if n.subnet, err = freeSubnet(); err != nil {
		return err
	}
	n.bridge = fmt.Sprintf("%s%d", bridgePrefix, os.Getpid())
	n.nodeIP = fmt.Sprintf("198.19.%d.1", n.subnet)
	for _, args := range [][]string{
		{"link", "add", n.bridge, "type", "bridge"},
		{"addr", "add", n.nodeIP + "/25", "dev", n.bridge},
		{"link", "set", n.bridge, "up"},
	} {
		if err := run("ip", args...); err != nil {
			return err
		}
	}
	return nil
}

// addServiceDNAT stands in for kube-proxy for one Service: connections of
// Pods to the "kubernetes" Service's cluster IP go to the API server.
func (n *node) addServiceDNAT() error {
	ip, err := framework.FirstServiceIP(n.serviceCIDR())
	if err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(strings.TrimPrefix(n.cp.URL, "https://"))
	if err != nil {
		return err
	}
	n.dnat = []string{"PREROUTING", "-d", ip.String() + "/32", "-p", "tcp", "--dport", "443",
		"-m", "comment", "--comment", ruleComment(os.Getpid()),
		"-j", "DNAT", "--to-destination", net.JoinHostPort(n.nodeIP, port)}
	return run("iptables", append([]string{"-t", "nat", "-A"}, n.dnat...)...)
}

// ruleComment marks the iptables rules of the run of pid.
func ruleComment(pid int) string { return fmt.Sprintf("portico-node-%d", pid) }

// startContainerd writes the CNI and containerd configurations and starts
// containerd with everything under the suite's directory.
func (n *node) startContainerd() error {
	cniConf := filepath.Join(n.dir, "cni")
	if err := os.MkdirAll(cniConf, 0o755); err != nil {
		return err
	}
	conflist := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": %q,
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isDefaultGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "ranges": [[{"subnet": %q, "rangeStart": "198.19.%d.10", "rangeEnd": "198.19.%d.120", "gateway": %q}]],
      "dataDir": %q
    }
  }]
}
`, ruleComment(os.Getpid()), n.bridge, n.podCIDR(), n.subnet, n.subnet, n.nodeIP, filepath.Join(n.dir, "cni-ipam"))
	if err := os.WriteFile(filepath.Join(cniConf, "10-portico.conflist"), []byte(conflist), 0o644); err != nil {
		return err
	}
	// restrict_oom_score_adj: this sandbox cannot lower OOM scores, and
	// runc then fails every sandbox ("can't get final child's PID from
	// pipe"). Network namespaces are mounted under the state directory, so
	// nothing is left in /run/netns.
	config := fmt.Sprintf(`version = 3
root = %q
state = %q

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = %q

  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = %q
          Root = %q
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = [%q]
      conf_dir = %q

  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = %q
`, filepath.Join(n.dir, "containerd"), filepath.Join(n.dir, "containerd-state"),
		n.containerdSocket(), n.containerdSocket()+".ttrpc", pauseImage,
		runcBinary, filepath.Join(n.dir, "runc"), cniBinDir, cniConf, n.nodeIP)
	configFile := filepath.Join(n.dir, "containerd.toml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(n.containerdBin, "containerd"), "--config", configFile, "--log-level", "warn")
	// The runc shim is found on PATH.
	cmd.Env = append(os.Environ(), "PATH="+n.containerdBin+":"+os.Getenv("PATH"))
	var err error
	if n.containerd, err = n.suite.Children.Start("containerd", cmd); err != nil {
		return err
	}
	err = framework.Poll(nodeReadyTimeout, 100*time.Millisecond, n.containerd, func() error {
		_, err := n.ctr("version")
		return err
	})
	if err != nil {
		return fmt.Errorf("containerd not answering: %w\ncontainerd output:\n%s", err, n.containerd.LogTail(40))
	}
	return nil
}

// ctr runs containerd's client in the Kubernetes namespace.
func (n *node) ctr(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(n.containerdBin, "ctr"),
		append([]string{"--address", n.containerdSocket(), "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, framework.LastLines(string(out), 5))
	}
	return out, nil
}

// startManagerAndScheduler starts kube-controller-manager (every
// controller but node IPAM, which the CNI plugin's host-local does) and
// kube-scheduler, both as admin, on loopback ports.
func (n *node) startManagerAndScheduler() error {
	kubeconfig := filepath.Join(n.dir, "admin.kubeconfig")
	if err := framework.WriteKubeconfig(kubeconfig, n.cp.URL, n.cp.CAPEM, "admin", n.cp.AdminToken, ""); err != nil {
		return err
	}
	port, err := n.suite.Ports.Free()
	if err != nil {
		return err
	}
	manager := exec.Command(filepath.Join(n.kubeBin, "kube-controller-manager"),
		"--kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--leader-elect=false",
		"--controllers=*,-nodeipam",
		"--service-account-private-key-file="+n.cp.SAKeyFile,
		"--root-ca-file="+n.cp.CAFile,
		"--use-service-account-credentials=false",
		"--cert-dir="+filepath.Join(n.dir, "manager-certs"),
		"--v=0",
	)
	if n.manager, err = n.suite.Children.Start("kube-controller-manager", manager); err != nil {
		return err
	}
	if port, err = n.suite.Ports.Free(); err != nil {
		return err
	}
	scheduler := exec.Command(filepath.Join(n.kubeBin, "kube-scheduler"),
		"--kubeconfig="+kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--leader-elect=false",
		"--cert-dir="+filepath.Join(n.dir, "scheduler-certs"),
		"--v=0",
	)
	n.scheduler, err = n.suite.Children.Start("kube-scheduler", scheduler)
	return err
}

// startKubelet writes the kubelet's configuration and kubeconfig and
// starts it with every path under the suite's directory.
func (n *node) startKubelet(token string) error {
	root := filepath.Join(n.dir, "kubelet")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	kubeconfig := filepath.Join(n.dir, "kubelet.kubeconfig")
	if err := framework.WriteKubeconfig(kubeconfig, n.cp.URL, n.cp.CAPEM, "system:node:"+nodeName, token, ""); err != nil {
		return err
	}
	port, err := n.suite.Ports.Free()
	if err != nil {
		return err
	}
	// cgroupfs with cgroup v1 as this machine has; image garbage collection
	// off (the images cannot be pulled again); eviction thresholds low so a
	// busy test machine does not evict the Pods under test.
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %q
port: %d
readOnlyPort: 0
healthzPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: %q
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
resolvConf: ""
podLogsDirectory: %q
volumePluginDir: %q
serializeImagePulls: false
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
maxPods: 50
`, n.nodeIP, port, n.cp.KubeletClientCAFile, "unix://"+n.containerdSocket(), filepath.Join(n.dir, "pod-logs"), filepath.Join(n.dir, "volume-plugins"))
	configFile := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(n.kubeBin, "kubelet"),
		"--config="+configFile,
		"--kubeconfig="+kubeconfig,
		"--root-dir="+root,
		"--cert-dir="+filepath.Join(root, "pki"),
		"--hostname-override="+nodeName,
		"--node-ip="+n.nodeIP,
		"--v=0",
	)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, "PATH=") }), "PATH="+kubeletPath)
	n.kubelet, err = n.suite.Children.Start("kubelet", cmd)
	return err
}

// waitReady waits until the Node is Ready and the controller-manager has
// made the default namespace's ServiceAccount (Pods need it).
func (n *node) waitReady() error {
	err := framework.Poll(nodeReadyTimeout, 200*time.Millisecond, n.kubelet, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		nd, err := n.client().CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range nd.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("node not Ready: %s: %s", c.Reason, c.Message)
			}
		}
		return errors.New("node has no Ready condition yet")
	})
	if err != nil {
		return fmt.Errorf("%w\nkubelet output:\n%s", err, n.kubelet.LogTail(40))
	}
	return framework.Poll(nodeReadyTimeout, 200*time.Millisecond, n.manager, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := n.client().CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
}

// stop stops the kubelet, the controller-manager and the scheduler, then
// kills every container (nothing of the node is kept, so nothing needs a
// graceful end, and a kubelet takes long to tear Pods down), then stops
// containerd and kills the API server, whose graceful stop would wait for
// the watches of the controllers it no longer hears from.
func (n *node) stop() error {
	var errs []error
	for _, p := range []*framework.Process{n.kubelet, n.manager, n.scheduler} {
		if p != nil {
			errs = append(errs, p.Stop())
		}
	}
	for _, pid := range containerProcesses(n.dir) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if n.containerd != nil {
		errs = append(errs, n.containerd.Stop())
	}
	if n.cp != nil && n.cp.APIServer != nil {
		errs = append(errs, n.cp.KillAPIServer())
	}
	return errors.Join(errs...)
}

// logTails is the end of every node component's output, for a failure.
func (n *node) logTails() string {
	var b strings.Builder
	procs := []*framework.Process{n.containerd, n.kubelet, n.manager, n.scheduler}
	if n.cp != nil {
		procs = append(procs, n.cp.APIServer)
	}
	for _, p := range procs {
		if p != nil {
			fmt.Fprintf(&b, "--- %s (last 30 lines)\n%s\n", p.Name, p.LogTail(30))
		}
	}
	return b.String()
}

// containerProcesses lists the containers' processes of the node of dir:
// the descendants of its containerd shims (a shim is the subreaper of its
// containers), which name dir in their command lines. Processes of any
// other container runtime on the machine are not among them.
func containerProcesses(dir string) []int {
	procs := framework.Processes()
	children := map[int][]int{}
	var todo []int
	for _, p := range procs {
		children[p.PPID] = append(children[p.PPID], p.PID)
		if strings.Contains(p.Cmdline, "containerd-shim") && strings.Contains(p.Cmdline, dir) {
			todo = append(todo, p.PID)
		}
	}
	var pids []int
	for len(todo) > 0 {
		pid := todo[0]
		todo = todo[1:]
		kids := children[pid]
		pids = append(pids, kids...)
		todo = append(todo, kids...)
	}
	return pids
}

// cleanNode removes whatever the node of dir left, whether its run is
// tearing down or died: the containers' processes, containerd's shims, the
// mounts under dir, the Pod cgroups, the DNAT rule, kubelet iptables
// chains, the bridge, and dir itself. It is idempotent.
func cleanNode(dir string) error {
	pid := runPID(dir)
	for _, p := range containerProcesses(dir) {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	// Shims and any node component still running name dir in their
	// command lines.
	for _, p := range framework.Processes() {
		if p.PID != os.Getpid() && strings.Contains(p.Cmdline, dir) && !strings.Contains(p.Cmdline, reaperName) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
	}
	var errs []error
	errs = append(errs, unmountUnder(dir))
	removePodCgroups()
	removeRules(pid)
	if pid > 0 {
		bridge := fmt.Sprintf("%s%d", bridgePrefix, pid)
		if _, err := net.InterfaceByName(bridge); err == nil {
			errs = append(errs, run("ip", "link", "delete", bridge))
		}
		results, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", ruleComment(pid)+"-*"))
		for _, r := range results {
			_ = os.Remove(r)
		}
	}
	// The kubelet's device-plugin directory is not under its root-dir.
	_ = os.RemoveAll("/var/lib/kubelet/device-plugins")
	_ = os.Remove("/var/lib/kubelet")
	errs = append(errs, os.RemoveAll(dir))
	return errors.Join(errs...)
}

// runPID is the pid of the test binary that made dir, or 0.
func runPID(dir string) int {
	rest, ok := strings.CutPrefix(filepath.Base(dir), tempPrefix)
	if !ok {
		return 0
	}
	s, _, _ := strings.Cut(rest, "-")
	pid, _ := strconv.Atoi(s)
	return pid
}

// unmountUnder detaches every mount below dir, deepest first: the kubelet's
// tmpfs volumes, containerd's overlay root filesystems and network
// namespaces.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		// Spaces and the like are octal escapes in mountinfo.
		point, err := strconv.Unquote(`"` + strings.ReplaceAll(fields[4], `"`, `\"`) + `"`)
		if err != nil {
			point = fields[4]
		}
		if strings.HasPrefix(point, dir+"/") {
			points = append(points, point)
		}
	}
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// removePodCgroups removes the kubelet's kubepods cgroups in every
// hierarchy, children first. Only one node runs on a machine at a time; a
// cgroup still in use (another kubelet's) is not empty and stays.
func removePodCgroups() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if st, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil && st.IsDir() {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			// A cgroup empties a moment after its last process is killed.
			for try := 0; try < 20; try++ {
				if err := syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// removeRules deletes the DNAT rule of the run of pid and, should a kubelet
// have made them, its chains.
func removeRules(pid int) {
	if pid > 0 {
		out, _ := exec.Command("iptables", "-t", "nat", "-S", "PREROUTING").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.Contains(line, ruleComment(pid)) || !strings.HasPrefix(line, "-A ") {
				continue
			}
			// iptables -S quotes nothing our rule holds.
			args := append([]string{"-t", "nat", "-D"}, strings.Fields(strings.TrimPrefix(line, "-A "))...)
			_ = exec.Command("iptables", args...).Run()
		}
	}
	for _, args := range [][]string{
		{"-D", "INPUT", "-j", "KUBE-FIREWALL"},
		{"-D", "OUTPUT", "-j", "KUBE-FIREWALL"},
		{"-F", "KUBE-FIREWALL"},
		{"-X", "KUBE-FIREWALL"},
		{"-X", "KUBE-KUBELET-CANARY"},
		{"-t", "nat", "-X", "KUBE-KUBELET-CANARY"},
		{"-t", "mangle", "-X", "KUBE-KUBELET-CANARY"},
		{"-t", "mangle", "-X", "KUBE-IPTABLES-HINT"},
	} {
		_ = exec.Command("iptables", args...).Run()
	}
}

// sweepLeftovers cleans up the nodes of earlier runs whose test binary is gone.
func sweepLeftovers() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		dir := filepath.Join(os.TempDir(), e.Name())
		if pid := runPID(dir); pid > 0 && e.IsDir() && !framework.PIDAlive(pid) {
			fmt.Fprintf(os.Stderr, "e2e/node: cleaning up %s left by a dead run\n", dir)
			if err := cleanNode(dir); err != nil {
				fmt.Fprintln(os.Stderr, "e2e/node:", err)
			}
		}
	}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			if s, ok := strings.CutPrefix(i.Name, bridgePrefix); ok {
				if pid, err := strconv.Atoi(s); err == nil && !framework.PIDAlive(pid) {
					_ = run("ip", "link", "delete", i.Name)
					removeRules(pid)
				}
			}
		}
	}
}

// lockNetwork serializes choosing a subnet between concurrent runs.
func lockNetwork() (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "portico-e2e-node.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// freeSubnet returns S such that no address of the host is in 198.19.S.0/24.
func freeSubnet() (int, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok {
			if ip4 := ipnet.IP.To4(); ip4 != nil && ip4[0] == 198 && ip4[1] == 19 {
				used[int(ip4[2])] = true
			}
		}
	}
	for s := 1; s < 256; s++ {
		if !used[s] {
			return s, nil
		}
	}
	return 0, errors.New("every 198.19.S.0/24 subnet is in use on this host")
}

// run runs a command and returns its error with its output.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
