package framework

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Bounds of starting the control plane. The first build of the Kubernetes
// binaries takes about 11 minutes on 2 cores; afterwards hack/build-kube.sh
// prints its cached directory at once.
const (
	// KubeBuildTimeout bounds a cached build script's run.
	KubeBuildTimeout = 30 * time.Minute
	etcdReadyTimeout = 30 * time.Second
	apiReadyTimeout  = 60 * time.Second
)

// KubeBinaries runs hack/build-kube.sh and returns the directory holding
// kube-apiserver, kubelet, kube-controller-manager and kube-scheduler.
func KubeBinaries(root string) (string, error) {
	return CachedBuild(root, "build-kube.sh", "kube-apiserver")
}

// CachedBuild runs hack/SCRIPT, one of the scripts that build a tool once
// and cache it outside the repository, and returns the directory it prints
// on stdout, which must hold want. Its progress on stderr is forwarded, so
// CI shows a cold build's.
func CachedBuild(root, script, want string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), KubeBuildTimeout)
	defer cancel()
	var stdout bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", script))
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("hack/%s: %w", script, err)
	}
	fields := strings.Fields(stdout.String())
	if len(fields) == 0 {
		return "", fmt.Errorf("hack/%s printed nothing", script)
	}
	dir := fields[len(fields)-1]
	if st, err := os.Stat(filepath.Join(dir, want)); err != nil || st.IsDir() {
		return "", fmt.Errorf("hack/%s printed %q, not a directory holding %s", script, stdout.String(), want)
	}
	return dir, nil
}

// ControlPlaneConfig says how to start etcd and kube-apiserver.
type ControlPlaneConfig struct {
	// Dir holds etcd's data, the keys, certificates and the token file.
	Dir string
	// APIServer is the kube-apiserver binary.
	APIServer string
	// Name prefixes the progress lines (the suite's name, "e2e/kube").
	Name string
	// Address is the address the API server binds and advertises;
	// 127.0.0.1 when empty. Pods reach an API server on a bridge address.
	Address string
	// ServiceCIDR is the Service cluster IP range; 10.96.0.0/16 when
	// empty (allocated only: nothing sends traffic to a cluster IP).
	ServiceCIDR string
	// Authorization is --authorization-mode; RBAC when empty.
	Authorization string
	// Tokens are extra lines of the static token file
	// (token,user,uid,"group1,group2"), for a kubelet or a controller
	// manager that authenticate as themselves.
	Tokens []string
	// Args are extra flags, appended last so they override the defaults.
	Args []string
}

// ControlPlane is a running etcd and kube-apiserver with an admin client.
type ControlPlane struct {
	cfg ControlPlaneConfig
	sup *Supervisor

	// Etcd and APIServer are the two processes.
	Etcd, APIServer *Process
	// EtcdURL is http://127.0.0.1:PORT of etcd.
	EtcdURL string
	// URL is https://ADDRESS:PORT of kube-apiserver.
	URL string
	// CAPEM is the API server's serving certificate (self-signed, its own CA).
	CAPEM []byte
	// CAFile is CAPEM in a file, for --root-ca-file and kubeconfigs.
	CAFile string
	// SAKeyFile is the service-account signing key (PEM, mode 0600).
	SAKeyFile string
	// KubeletClientCAFile is the CA a kubelet must trust for client
	// certificates (authentication.x509.clientCAFile): the API server
	// authenticates with it to the kubelet for port-forward, exec and logs.
	KubeletClientCAFile string
	// AdminToken authenticates as user admin in group system:masters.
	AdminToken string
	// Config and Client are the admin's client-go configuration and clientset.
	Config *rest.Config
	Client kubernetes.Interface
}

// StartControlPlane starts etcd and kube-apiserver as children of s and
// waits until the API server is ready and has made the default namespace.
// On error it returns what it started, for the caller's teardown to stop.
func (s *Suite) StartControlPlane(cfg ControlPlaneConfig) (*ControlPlane, error) {
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1"
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = "10.96.0.0/16"
	}
	if cfg.Authorization == "" {
		cfg.Authorization = "RBAC"
	}
	cp := &ControlPlane{cfg: cfg, sup: s.Children}
	if err := cp.startEtcd(s.Ports); err != nil {
		return cp, err
	}
	return cp, cp.startAPIServer(s.Ports)
}

// startEtcd starts etcd on two free loopback ports and waits until /health
// says it is healthy.
func (cp *ControlPlane) startEtcd(ports *Ports) error {
	clientPort, err := ports.Free()
	if err != nil {
		return err
	}
	peerPort, err := ports.Free()
	if err != nil {
		return err
	}
	cp.EtcdURL = "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	cmd := exec.Command("etcd",
		"--name", "e2e",
		"--data-dir", filepath.Join(cp.cfg.Dir, "etcd"),
		"--listen-client-urls", cp.EtcdURL,
		"--advertise-client-urls", cp.EtcdURL,
		"--listen-peer-urls", peerURL,
		"--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e2e="+peerURL,
		"--logger", "zap",
		"--log-level", "warn",
	)
	if cp.Etcd, err = cp.sup.Start("etcd", cmd); err != nil {
		return err
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DialContext: GuardedDial}}
	err = Poll(etcdReadyTimeout, 50*time.Millisecond, cp.Etcd, func() error {
		resp, err := client.Get(cp.EtcdURL + "/health")
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"health":"true"`) {
			return fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("etcd not healthy: %w\netcd output:\n%s", err, cp.Etcd.LogTail(40))
	}
	return nil
}

// startAPIServer writes the API server's keys, certificate and token file,
// starts it against etcd, waits for /readyz and for the default namespace,
// and builds the admin client.
func (cp *ControlPlane) startAPIServer(ports *Ports) error {
	pki := filepath.Join(cp.cfg.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	// The service-account issuer's throwaway signing key.
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	saDER, err := x509.MarshalECPrivateKey(saKey)
	if err != nil {
		return err
	}
	cp.SAKeyFile = filepath.Join(pki, "sa.key")
	if err := os.WriteFile(cp.SAKeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: saDER}), 0o600); err != nil {
		return err
	}
	// A self-signed serving certificate; being its own CA, clients verify
	// the server with it instead of skipping verification.
	// Pods reach the API server on the "kubernetes" Service's cluster IP,
	// the first address of the Service range.
	ips := []net.IP{net.IPv4(127, 0, 0, 1)}
	if ip := net.ParseIP(cp.cfg.Address); ip != nil && !ip.Equal(ips[0]) {
		ips = append(ips, ip)
	}
	if ip, err := FirstServiceIP(cp.cfg.ServiceCIDR); err == nil {
		ips = append(ips, ip)
	}
	certPEM, keyPEM, err := ServingCertificate("portico-e2e-apiserver",
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}, ips)
	if err != nil {
		return err
	}
	cp.CAPEM = certPEM
	cp.CAFile = filepath.Join(pki, "ca.crt")
	certFile, keyFile := filepath.Join(pki, "apiserver.crt"), filepath.Join(pki, "apiserver.key")
	for path, content := range map[string][]byte{cp.CAFile: certPEM, certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			return err
		}
	}
	// The API server's identity towards kubelets (port-forward, exec,
	// logs): without one a kubelet that refuses anonymous requests
	// answers 401. Group system:masters passes the kubelet's webhook
	// authorization.
	clientPEM, clientKeyPEM, err := ClientCertificate("kube-apiserver-kubelet-client", []string{"system:masters"})
	if err != nil {
		return err
	}
	cp.KubeletClientCAFile = filepath.Join(pki, "kubelet-client.crt")
	kubeletClientKey := filepath.Join(pki, "kubelet-client.key")
	for path, content := range map[string][]byte{cp.KubeletClientCAFile: clientPEM, kubeletClientKey: clientKeyPEM} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			return err
		}
	}
	cp.AdminToken = RandomHex(24)
	tokens := append([]string{cp.AdminToken + ",admin,admin-uid,system:masters"}, cp.cfg.Tokens...)
	tokenFile := filepath.Join(pki, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(strings.Join(tokens, "\n")+"\n"), 0o600); err != nil {
		return err
	}

	port, err := ports.Free()
	if err != nil {
		return err
	}
	cp.URL = "https://" + net.JoinHostPort(cp.cfg.Address, strconv.Itoa(port))
	args := []string{
		"--bind-address=" + cp.cfg.Address,
		"--secure-port=" + strconv.Itoa(port),
		"--advertise-address=" + cp.cfg.Address,
		"--etcd-servers=" + cp.EtcdURL,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=" + cp.cfg.Authorization,
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + cp.SAKeyFile,
		"--service-account-signing-key-file=" + cp.SAKeyFile,
		"--service-cluster-ip-range=" + cp.cfg.ServiceCIDR,
		"--allow-privileged=true",
		// The "kubernetes" Service's endpoint reconciler refuses a loopback
		// advertise address; nothing here needs that Service's endpoints.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + filepath.Join(cp.cfg.Dir, "certs"),
		"--tls-cert-file=" + certFile,
		"--tls-private-key-file=" + keyFile,
		"--kubelet-client-certificate=" + cp.KubeletClientCAFile,
		"--kubelet-client-key=" + kubeletClientKey,
		// Not needed by the tests, and each costs startup time or CPU.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
		"--enable-logs-handler=false",
	}
	cmd := exec.Command(cp.cfg.APIServer, append(args, cp.cfg.Args...)...)
	started := time.Now()
	if cp.APIServer, err = cp.sup.Start("kube-apiserver", cmd); err != nil {
		return err
	}
	cp.Config = &rest.Config{
		Host:            cp.URL,
		BearerToken:     cp.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: cp.CAPEM},
		QPS:             100,
		Burst:           200,
		Timeout:         30 * time.Second,
		UserAgent:       "portico-e2e",
		Dial:            GuardedDial,
	}
	if cp.Client, err = kubernetes.NewForConfig(cp.Config); err != nil {
		return err
	}
	if err := cp.waitReady(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%s: kube-apiserver and default namespace ready in %s on %s\n", cp.cfg.Name, time.Since(started).Round(time.Millisecond), cp.URL)
	return nil
}

// waitReady waits until /readyz answers 200 and the default namespace,
// which the API server creates in a post-start hook, can be read.
func (cp *ControlPlane) waitReady() error {
	httpClient, err := rest.HTTPClientFor(cp.Config)
	if err != nil {
		return err
	}
	err = Poll(apiReadyTimeout, 100*time.Millisecond, cp.APIServer, func() error {
		resp, err := httpClient.Get(cp.URL + "/readyz")
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %d: %s", resp.StatusCode, LastLines(string(body), 5))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver not ready: %w\nkube-apiserver output:\n%s", err, cp.APIServer.LogTail(60))
	}
	err = Poll(30*time.Second, 100*time.Millisecond, cp.APIServer, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := cp.Client.CoreV1().Namespaces().Get(ctx, metav1.NamespaceDefault, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver: namespace default: %w", err)
	}
	return nil
}

// FirstServiceIP is the cluster IP the API server gives the "kubernetes"
// Service: the first address after the network address of cidr.
func FirstServiceIP(cidr string) (net.IP, error) {
	_, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ip := slices.Clone(ipnet.IP.To4())
	if ip == nil {
		return nil, fmt.Errorf("%s: not an IPv4 range", cidr)
	}
	ip[3]++
	return ip, nil
}

// KillAPIServer kills kube-apiserver, as a crash or a lost node would, and
// leaves etcd running. (SIGTERM would not do: the API server stops
// listening at once but then keeps the open watch connections until its
// 60 s shutdown timeout.)
func (cp *ControlPlane) KillAPIServer() error {
	return cp.APIServer.Kill()
}

// RestartAPIServer starts kube-apiserver again with the flags it was first
// started with: the same port, certificates, token file, service-account
// key and etcd, so every client and token keeps working. It waits until it
// is ready. If the API server still runs, it does nothing.
func (cp *ControlPlane) RestartAPIServer() error {
	old := cp.APIServer
	if old.Alive() {
		return nil
	}
	started := time.Now()
	c, err := cp.sup.Start("kube-apiserver", exec.Command(old.Cmd.Path, old.Cmd.Args[1:]...))
	if err != nil {
		return err
	}
	cp.APIServer = c
	if err := cp.waitReady(); err != nil {
		return fmt.Errorf("restarted: %w", err)
	}
	fmt.Fprintf(os.Stderr, "%s: kube-apiserver restarted and ready in %s on %s\n", cp.cfg.Name, time.Since(started).Round(time.Millisecond), cp.URL)
	return nil
}

// WriteKubeconfig writes a kubeconfig for one bearer-token user of the API
// server at server; namespace ("" for none) becomes the context's default.
// Written by hand: the format is small and stable, and client-go's
// clientcmd then reads it exactly as the controller does.
func WriteKubeconfig(path, server string, caPEM []byte, user, token, namespace string) error {
	ns := ""
	if namespace != "" {
		ns = "\n    namespace: " + strconv.Quote(namespace)
	}
	content := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: e2e
  context:
    cluster: e2e
    user: %s%s
current-context: e2e
`, strconv.Quote(server), base64.StdEncoding.EncodeToString(caPEM), strconv.Quote(user), strconv.Quote(token), strconv.Quote(user), ns)
	return os.WriteFile(path, []byte(content), 0o600)
}

// LastLines returns the last n lines of s joined by " | ", for one-line
// error messages.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// RandomHex returns n random bytes in hex, for tokens and names.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}
