package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
)

// modelFlags are the flags that shape the generated configuration; the
// controller and render commands share them so both produce the same output.
type modelFlags struct {
	controllerClass          string
	ingressClass             string
	watchIngressWithoutClass bool
	defaultBackendService    string
	defaultSSLCertificate    string
	disableSSLRedirect       bool
	httpPort                 int
	httpsPort                int
	bindAddress              string
	internalPort             int
	resolvers                []string
	accessLog                string
	logDirs                  []string
	workerProcesses          string
	configMap                string
	annotationsPrefix        string
	allowSnippets            bool
	snippetNamespaces        []string
	allowSharedHosts         bool
	limits                   model.Limits
	balancer                 string
	allowLoopbackBackends    bool
	requestMetrics           requestMetricsFlags
}

func (f *modelFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.controllerClass, "controller-class", model.DefaultControllerClass,
		"serve Ingresses whose IngressClass has this spec.controller")
	fs.StringVar(&f.ingressClass, "ingress-class", model.DefaultIngressClass,
		"class name also accepted in spec.ingressClassName and the legacy kubernetes.io/ingress.class annotation when no IngressClass of that name exists")
	fs.BoolVar(&f.watchIngressWithoutClass, "watch-ingress-without-class", false,
		"also serve Ingresses that name no class (without this, only when an IngressClass of ours is the cluster default)")
	fs.StringVar(&f.defaultBackendService, "default-backend-service", "",
		"NAMESPACE/NAME[:PORT] of a Service that answers requests no rule matches (default: nginx answers 404)")
	fs.StringVar(&f.defaultSSLCertificate, "default-ssl-certificate", "",
		"NAMESPACE/NAME of a kubernetes.io/tls Secret for TLS hosts without a usable Secret (default: a self-signed certificate made at start)")
	fs.BoolVar(&f.disableSSLRedirect, "disable-ssl-redirect", false,
		"do not redirect plain HTTP to HTTPS (308) for hosts that have TLS")
	fs.IntVar(&f.httpPort, "http-port", 80, "port nginx serves plain HTTP on")
	fs.IntVar(&f.httpsPort, "https-port", 443, "port nginx serves HTTPS on")
	fs.StringVar(&f.bindAddress, "bind-address", "", "address nginx listens on (default: all addresses)")
	fs.IntVar(&f.internalPort, "internal-port", 10246,
		"with the Lua balancer, the port on 127.0.0.2 where nginx answers 503 for requests without a ready endpoint (the controller reaches nginx's own internal server through the unix socket RUNTIME-DIR/internal/nginx.sock)")
	fs.StringSliceVar(&f.resolvers, "resolver", nil,
		"DNS servers (IP or IP:PORT) the controller resolves ExternalName Services with, checking every answer before nginx may "+
			"use it, and nginx the hosts of auth-url (default: the nameservers in /etc/resolv.conf)")
	fs.StringVar(&f.accessLog, "access-log", "/dev/stdout", `nginx access log path, or "off"`)
	fs.StringSliceVar(&f.logDirs, "log-dir", model.DefaultLogDirs(),
		"directories whose files the ConfigMap's access-log-path and error-log-path may name (absolute; "+
			"never the --config-dir or --runtime-dir, whose files nginx and the controller depend on)")
	fs.StringVar(&f.workerProcesses, "worker-processes", "auto", `nginx worker_processes ("auto" or a number)`)
	fs.StringVar(&f.configMap, "configmap", "", "NAMESPACE/NAME of the ConfigMap with global options (see docs/configmap.md)")
	fs.BoolVar(&f.allowSnippets, "allow-snippet-annotations", false,
		"allow the configuration-snippet and server-snippet annotations, only in the namespaces of --snippet-namespaces")
	fs.BoolVar(&f.allowSharedHosts, "allow-shared-hosts", false,
		"let Ingresses of several namespaces serve paths on one host. Without it a host belongs to the namespace of its oldest Ingress, and other namespaces' rules for it are not served; with it they serve their own Exact and Prefix paths, and TLS, client certificates, server snippets, aliases, redirects and canaries of the host still come only from the owner's namespace")
	d := model.DefaultLimits()
	fs.IntVar(&f.limits.HostsPerIngress, "max-hosts-per-ingress", d.HostsPerIngress, "an Ingress with more rules (hosts) is not served (its last accepted version keeps serving)")
	fs.IntVar(&f.limits.PathsPerIngress, "max-paths-per-ingress", d.PathsPerIngress, "an Ingress with more paths, over all its rules, is not served")
	fs.IntVar(&f.limits.AnnotationBytes, "max-annotation-bytes", d.AnnotationBytes, "an Ingress whose annotation values under the prefix are longer in all is not served")
	fs.IntVar(&f.limits.SnippetBytes, "max-snippet-bytes", d.SnippetBytes, "an Ingress with a longer configuration-snippet or server-snippet is not served (16384 at most)")
	fs.IntVar(&f.limits.RegexPathsPerHost, "max-regex-paths-per-host", d.RegexPathsPerHost,
		"regex paths beyond this many on one host are not served; nginx tries them in turn for every request of the host")
	fs.IntVar(&f.limits.CertificateBytes, "max-certificate-bytes", d.CertificateBytes, "a TLS Secret whose certificate chain is longer is refused (the host gets the default certificate)")
	fs.StringSliceVar(&f.snippetNamespaces, "snippet-namespaces", nil,
		"namespaces whose Ingresses may use snippet annotations (with --allow-snippet-annotations)")
	fs.StringVar(&f.annotationsPrefix, "annotations-prefix", annotations.DefaultPrefix, "prefix of the Ingress annotations Portico reads (see docs/annotations.md)")
	fs.BoolVar(&f.allowLoopbackBackends, "allow-loopback-backends", false,
		"for development and tests only: let EndpointSlices and ExternalName Services point at loopback (127.0.0.0/8, ::1). "+
			"Anything else listening on loopback in the controller's Pod is then reachable through an Ingress; "+
			"the controller's and nginx's own ports stay refused, as do link-local addresses and the Pod's own addresses")
	f.requestMetrics.register(fs)
	fs.StringVar(&f.balancer, "balancer", "auto",
		"how nginx picks endpoints: lua (endpoint changes without reloads; needs nginx's Lua module and lua-cjson), "+
			"upstreams (an upstream block per Service: every endpoint change reloads), or auto (lua when nginx -t accepts it)")
}

// options validates the flags and returns model options. runtimeDir and
// configDir place the files nginx reads and writes.
func (f *modelFlags) options(runtimeDir, configDir, defaultCert string) (model.Options, error) {
	g := model.DefaultGlobal()
	for name, port := range map[string]int{"--http-port": f.httpPort, "--https-port": f.httpsPort, "--internal-port": f.internalPort} {
		if port < 1 || port > 65535 {
			return model.Options{}, fmt.Errorf("%s %d: must be between 1 and 65535", name, port)
		}
	}
	for name, n := range map[string]int{"--max-hosts-per-ingress": f.limits.HostsPerIngress, "--max-paths-per-ingress": f.limits.PathsPerIngress,
		"--max-annotation-bytes": f.limits.AnnotationBytes, "--max-snippet-bytes": f.limits.SnippetBytes,
		"--max-regex-paths-per-host": f.limits.RegexPathsPerHost, "--max-certificate-bytes": f.limits.CertificateBytes} {
		if n < 1 {
			return model.Options{}, fmt.Errorf("%s %d: must be at least 1", name, n)
		}
	}
	if f.bindAddress != "" {
		if _, err := netip.ParseAddr(f.bindAddress); err != nil {
			return model.Options{}, fmt.Errorf("--bind-address %q: must be an IP address", f.bindAddress)
		}
	}
	if f.workerProcesses != "auto" {
		var n int
		if _, err := fmt.Sscanf(f.workerProcesses, "%d", &n); err != nil || n < 1 || fmt.Sprint(n) != f.workerProcesses {
			return model.Options{}, fmt.Errorf("--worker-processes %q: use auto or a positive number", f.workerProcesses)
		}
	}
	switch f.balancer {
	case "auto", model.BalancerLua, model.BalancerUpstreams:
	default:
		return model.Options{}, fmt.Errorf("--balancer %q: use auto, lua or upstreams", f.balancer)
	}
	if f.annotationsPrefix == "" || strings.ContainsAny(f.annotationsPrefix, " \t\n") {
		return model.Options{}, fmt.Errorf("--annotations-prefix %q: must be a non-empty annotation prefix", f.annotationsPrefix)
	}
	if f.configMap != "" {
		if ns, name, ok := strings.Cut(f.configMap, "/"); !ok || ns == "" || name == "" {
			return model.Options{}, fmt.Errorf("--configmap %q: must be NAMESPACE/NAME", f.configMap)
		}
	}
	var snippetNamespaces []string
	if f.allowSnippets {
		if len(f.snippetNamespaces) == 0 {
			return model.Options{}, fmt.Errorf("--allow-snippet-annotations needs --snippet-namespaces: list the namespaces whose Ingresses may use snippets")
		}
		snippetNamespaces = f.snippetNamespaces
	}
	resolvers := f.resolvers
	if resolvers == nil {
		resolvers = systemResolvers("/etc/resolv.conf")
	}
	for i, r := range resolvers {
		arg, err := resolverArg(r)
		if err != nil {
			return model.Options{}, err
		}
		resolvers[i] = arg
	}
	g.HTTPPort, g.HTTPSPort, g.InternalPort = f.httpPort, f.httpsPort, f.internalPort
	g.BindAddress = f.bindAddress
	g.Resolvers = resolvers
	g.AccessLog = f.accessLog
	logDirs, err := checkLogDirs(f.logDirs, runtimeDir, configDir)
	if err != nil {
		return model.Options{}, err
	}
	g.LogDirs = logDirs
	g.WorkerProcesses = f.workerProcesses
	g.RuntimeDir = runtimeDir
	g.PIDFile = runtimeDir + "/nginx.pid"
	g.InternalSocket = runtimeDir + "/internal/nginx.sock"
	g.DefaultCertificate = defaultCert
	g.LuaDir = runtimeDir + "/lua"
	if f.balancer == model.BalancerUpstreams {
		g.Balancer = model.BalancerUpstreams
	}
	g.RequestMetrics, g.RequestMetricsMemory, err = f.requestMetrics.env()
	if err != nil {
		return model.Options{}, err
	}
	return model.Options{
		ControllerClass:          f.controllerClass,
		IngressClass:             f.ingressClass,
		WatchIngressWithoutClass: f.watchIngressWithoutClass,
		DefaultBackendService:    f.defaultBackendService,
		DefaultSSLCertificate:    f.defaultSSLCertificate,
		DisableSSLRedirect:       f.disableSSLRedirect,
		ConfigMap:                f.configMap,
		AnnotationPrefix:         f.annotationsPrefix,
		SnippetNamespaces:        snippetNamespaces,
		AllowSharedHosts:         f.allowSharedHosts,
		Limits:                   f.limits,
		AllowLoopbackBackends:    f.allowLoopbackBackends,
		CertificateDir:           configDir + "/certs",
		AuthDir:                  configDir + "/auth",
		Global:                   g,
	}, nil
}

// systemResolvers reads the nameserver lines of resolv.conf; a missing file gives none.
func systemResolvers(path string) []string {
	file, err := os.Open(path)
	if err != nil {
		return []string{}
	}
	defer func() { _ = file.Close() }()
	out := []string{}
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			if addr, err := netip.ParseAddr(fields[1]); err == nil && addr.Zone() == "" {
				out = append(out, addr.String())
			}
		}
	}
	return out
}

// checkLogDirs checks --log-dir: absolute directories, none of them "/",
// inside or around the runtime or config directory, so that no log path the
// ConfigMap names can reach nginx.conf, the keys or the pid file.
func checkLogDirs(dirs []string, runtimeDir, configDir string) ([]string, error) {
	out := make([]string, 0, len(dirs))
	for _, d := range dirs {
		if !filepath.IsAbs(d) || filepath.Clean(d) != d || d == "/" || strings.ContainsAny(d, " \t\n\"';{}$") {
			return nil, fmt.Errorf("--log-dir %q: must be an absolute, clean directory other than /", d)
		}
		for _, own := range []string{runtimeDir, configDir} {
			if d == own || strings.HasPrefix(d, own+"/") || strings.HasPrefix(own, d+"/") {
				return nil, fmt.Errorf("--log-dir %q: must not be inside or hold %s, whose files nginx and the controller depend on", d, own)
			}
		}
		out = append(out, d)
	}
	return out, nil
}
