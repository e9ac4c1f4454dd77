//go:build linux

package kube

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// Names of what the suite creates, with the test binary's pid appended, so
// a later run can tell leftovers of a dead run from those of a live one.
const (
	netnsPrefix = "portico-e2e-"      // network namespace
	vethPrefix  = "pe2e"              // veth pair: pe2e<pid>h on the host, pe2e<pid>n inside
	tempPrefix  = "portico-e2e-kube-" // temporary directory
)

// Addresses inside the subnet 198.18.S.0/24 of the network namespace: the
// host end of the veth is .1, the namespace end .2, and backends get one
// of .10 to .250 each.
const (
	hostAddrHost   = 1
	netnsAddrHost  = 2
	firstBackendIP = 10
	lastBackendIP  = 250
	backendPort    = 8080
	backendTimeout = 10 * time.Second // echo server start until it answers
)

// netns is the network namespace where backends run, joined to the host by
// a veth pair. Nothing routes out of it: it has no default route.
type netns struct {
	name           string
	hostIf, nsIf   string
	subnet         int // S of 198.18.S.0/24
	mu             sync.Mutex
	added          map[int]bool // backend addresses configured inside
	inUse          map[int]bool
	free           []int // released addresses, reused oldest first
	nextBackendIdx int
}

// ip returns 198.18.S.host.
func (n *netns) ip(host int) string { return fmt.Sprintf("198.18.%d.%d", n.subnet, host) }

// lockNetns serializes sweeping and creating namespaces between concurrent
// runs of the suite on one machine.
func lockNetns() (func(), error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "portico-e2e-netns.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = f.Close()
			return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// netnsNames lists the network namespaces of the machine.
func netnsNames() []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return nil
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// ipCmd runs ip with args and returns its error with its output.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// freeSubnet returns S such that no address of the host lies in 198.18.S.0/24.
// Another run of the suite on the same machine holds its own subnet.
func freeSubnet() (int, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return 0, err
	}
	used := map[int]bool{}
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip4 := ipnet.IP.To4(); ip4 != nil && ip4[0] == 198 && ip4[1] == 18 {
			used[int(ip4[2])] = true
		}
	}
	for s := range 256 {
		if !used[s] {
			return s, nil
		}
	}
	return 0, errors.New("every 198.18.S.0/24 subnet is in use on this host")
}

// createNetns creates the network namespace name with a veth pair to the
// host. It returns what it created even on error, for teardown to delete.
func createNetns(name string) (*netns, error) {
	unlock, err := lockNetns()
	if err != nil {
		return nil, err
	}
	defer unlock()
	subnet, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	pid := strconv.Itoa(os.Getpid())
	n := &netns{name: name, hostIf: vethPrefix + pid + "h", nsIf: vethPrefix + pid + "n", subnet: subnet,
		added: map[int]bool{}, inUse: map[int]bool{}, nextBackendIdx: firstBackendIP}
	if err := ipCmd("netns", "add", name); err != nil {
		return nil, err
	}
	steps := [][]string{
		// Created with its peer already inside: no moment where both ends are on the host.
		{"link", "add", n.hostIf, "type", "veth", "peer", "name", n.nsIf, "netns", name},
		{"addr", "add", n.ip(hostAddrHost) + "/24", "dev", n.hostIf},
		{"link", "set", n.hostIf, "up"},
		{"-n", name, "addr", "add", n.ip(netnsAddrHost) + "/24", "dev", n.nsIf},
		{"-n", name, "link", "set", n.nsIf, "up"},
		{"-n", name, "link", "set", "lo", "up"},
	}
	for _, args := range steps {
		if err := ipCmd(args...); err != nil {
			return n, err
		}
	}
	// The namespace end must answer from the host before anything relies
	// on it. Nothing listens there yet, so "connection refused" is the
	// answer: it comes from the namespace's kernel, over the veth.
	err = framework.Poll(10*time.Second, 50*time.Millisecond, nil, func() error {
		conn, err := framework.GuardedDial(context.Background(), "tcp", net.JoinHostPort(n.ip(netnsAddrHost), "1"))
		if err == nil {
			_ = conn.Close()
			return nil
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil
		}
		return err
	})
	if err != nil {
		return n, fmt.Errorf("%s not reachable from the host: %w", n.ip(netnsAddrHost), err)
	}
	return n, nil
}

// delete kills what still runs inside the namespace and deletes it, which
// deletes the veth pair too.
func (n *netns) delete() error {
	if out, err := exec.Command("ip", "netns", "pids", n.name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	err := ipCmd("netns", "delete", n.name)
	if n.hostIf != "" {
		// Gone with its peer, unless a process kept the namespace alive.
		if _, lerr := net.InterfaceByName(n.hostIf); lerr == nil {
			err = errors.Join(err, ipCmd("link", "delete", n.hostIf))
		}
	}
	return err
}

// allocAddr returns a backend address inside the namespace that no running
// test uses, configured on the namespace's end of the veth. It is released
// when the test ends.
func allocAddr(t testing.TB) string {
	t.Helper()
	requireEnv(t)
	n := env.netns
	n.mu.Lock()
	defer n.mu.Unlock()
	var host int
	switch {
	case n.nextBackendIdx <= lastBackendIP:
		host = n.nextBackendIdx
		n.nextBackendIdx++
	case len(n.free) > 0:
		host, n.free = n.free[0], n.free[1:]
	default:
		t.Fatalf("out of backend addresses (%d in use)", len(n.inUse))
	}
	n.inUse[host] = true
	if !n.added[host] {
		require.NoError(t, ipCmd("-n", n.name, "addr", "add", n.ip(host)+"/32", "dev", n.nsIf))
		n.added[host] = true
	}
	t.Cleanup(func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.inUse, host)
		n.free = append(n.free, host)
	})
	return n.ip(host)
}

// Endpoint is one echo server inside the network namespace, standing for
// one ready endpoint (a Pod) of a Service.
type Endpoint struct {
	// Service is the name the echo server reports.
	Service string
	// IP is its address in 198.18.0.0/15; Port is the same for every endpoint.
	IP   string
	Port int
	proc *framework.Process
}

// Addr is IP:Port, as the echo server reports it in its replies.
func (e Endpoint) Addr() string { return net.JoinHostPort(e.IP, strconv.Itoa(e.Port)) }

// Stop stops the echo server (the endpoint then refuses connections).
func (e Endpoint) Stop(t testing.TB) {
	t.Helper()
	require.NoError(t, e.proc.Stop())
}

// startBackends starts n echo servers for service inside the network
// namespace, each on an address of its own and the port backendPort, and
// returns once each answers from the host. They are stopped in t.Cleanup.
func startBackends(t testing.TB, service string, n int) []Endpoint {
	t.Helper()
	requireEnv(t)
	eps := make([]Endpoint, n)
	for i := range eps {
		ip := allocAddr(t)
		eps[i] = Endpoint{Service: service, IP: ip, Port: backendPort}
		cmd := exec.Command("ip", "netns", "exec", env.netns.name, env.echoBinary,
			"-listen", eps[i].Addr(), "-service", service)
		c, err := env.Children.Start("echoserver "+service+"@"+eps[i].Addr(), cmd)
		require.NoError(t, err)
		eps[i].proc = c
		t.Cleanup(func() {
			if err := c.Stop(); err != nil {
				t.Errorf("stopping %s: %v", c.Name, err)
			}
			if t.Failed() {
				t.Logf("%s output:\n%s", c.Name, c.LogTail(20))
			}
		})
	}
	for _, ep := range eps {
		err := framework.Poll(backendTimeout, 20*time.Millisecond, ep.proc, func() error {
			reply, err := askBackend(ep.Addr())
			if err != nil {
				return err
			}
			if reply.Service != service {
				return fmt.Errorf("%s answered as %q", ep.Addr(), reply.Service)
			}
			return nil
		})
		require.NoError(t, err, "echo server %s: %s", ep.Addr(), ep.proc.LogTail(20))
	}
	return eps
}

// backendClient sends requests straight to backends over the veth.
var backendClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: framework.GuardedDial},
}

// askBackend sends GET / straight to an echo server at addr (IP:port).
func askBackend(addr string) (framework.EchoReply, error) {
	resp, err := backendClient.Get("http://" + addr + "/")
	if err != nil {
		return framework.EchoReply{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return framework.EchoReply{}, err
	}
	var r framework.EchoReply
	if err := json.Unmarshal(body, &r); err != nil {
		return framework.EchoReply{}, fmt.Errorf("%s: %w: %.200q", addr, err, body)
	}
	return r, nil
}

// startReaper starts a shell that waits until it gets SIGTERM (teardown
// sends it; Pdeathsig sends it when the test binary dies any other way) and
// then deletes the network namespace and the temporary directory.
func startReaper(children *framework.Supervisor, netnsName, dir string) (*framework.Process, error) {
	const script = `ns=$1 dir=$2
cleanup() {
	for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
	ip netns delete "$ns" 2>/dev/null
	rm -rf -- "$dir"
	kill "$sleeper" 2>/dev/null
	exit 0
}
trap cleanup TERM INT HUP
while :; do sleep 3600 & sleeper=$!; wait "$sleeper"; done`
	return children.Start("reaper", exec.Command("bash", "-c", script, "portico-e2e-reaper", netnsName, dir))
}

// sweepLeftovers removes network namespaces, veth interfaces and
// temporary directories of earlier runs whose test binary is gone.
func sweepLeftovers() {
	unlock, err := lockNetns()
	if err == nil {
		defer unlock()
	}
	for _, name := range netnsNames() {
		pid, ok := strings.CutPrefix(name, netnsPrefix)
		if !ok {
			continue
		}
		if n, err := strconv.Atoi(pid); err != nil || framework.PIDAlive(n) {
			continue
		}
		fmt.Fprintf(os.Stderr, "e2e/kube: deleting network namespace %s left by a dead run\n", name)
		_ = (&netns{name: name}).delete()
	}
	if ifs, err := net.Interfaces(); err == nil {
		for _, i := range ifs {
			pid, ok := strings.CutPrefix(i.Name, vethPrefix)
			if !ok {
				continue
			}
			pid = strings.TrimRight(pid, "hn")
			if n, err := strconv.Atoi(pid); err == nil && !framework.PIDAlive(n) {
				_ = exec.Command("ip", "link", "delete", i.Name).Run()
			}
		}
	}
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), tempPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if n, err := strconv.Atoi(pid); err == nil && !framework.PIDAlive(n) {
			_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}
