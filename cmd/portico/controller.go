package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/compat"
	"github.com/portico-ingress/portico/pkg/controller"
	"github.com/portico-ingress/portico/pkg/events"
	"github.com/portico-ingress/portico/pkg/ingressstatus"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/reload"
	"github.com/portico-ingress/portico/pkg/requestmetrics"
	"github.com/portico-ingress/portico/pkg/resolve"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/source/kube"
	"github.com/portico-ingress/portico/pkg/status"
)

type controllerFlags struct {
	model         modelFlags
	cluster       clusterFlags
	admission     admissionFlags
	manifests     string
	configDir     string
	runtimeDir    string
	nginxBinary   string
	pidFile       string
	startNginx    bool
	template      string
	statusAddress string
	debugAddress  string
	holdOff       time.Duration
	maxHoldOff    time.Duration
	endpointHold  time.Duration
	externalEvery time.Duration
	reloadTimeout time.Duration
	testTimeout   time.Duration
	history       int
	logLevel      string
	logFormat     string
	// expiryWarning is --certificate-expiry-warning.
	expiryWarning time.Duration
}

func newControllerCommand(stdout, stderr io.Writer) *cobra.Command {
	var f controllerFlags
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Watch Ingress objects and keep nginx configured",
		Long: `Run the controller: watch objects, render nginx.conf, test it with nginx -t,
make it live, reload nginx and confirm the new generation is served.

Objects come from the Kubernetes API (--kubeconfig, or the Pod's service
account when running in a cluster) or from a directory of manifests
(--manifests), which needs no cluster. In a cluster every replica serves
traffic; the one holding the Lease (--election-id) writes Ingress status.
Reloads become RELOAD Events on the Pod (POD_NAME, POD_NAMESPACE, POD_UID
from the downward API) and findings become Warning Events on the Ingress.

By default Portico runs as a sidecar: nginx runs in another container of the
same Pod (shareProcessNamespace: true) and is signalled through its pid file.
With --start-nginx, Portico starts and supervises nginx itself: a crashed
master is restarted at once (backed off from 250ms to 5s only while it keeps
exiting within 5s of its start), counted in portico_nginx_restarts_total and
sent as an NginxRestarted Warning on the Pod. nginx outlives a controller
that is killed (SIGKILL, OOM) and keeps serving; a controller started again
with the same --runtime-dir and --config-dir adopts that nginx instead of
starting another (see docs/nginx.md).

A configuration that fails nginx -t is never made live: the last good one
keeps serving, and the error is logged, counted in metrics and listed in
/debug/reloads (retries that fail the same way as one entry with a count;
getting back to the live configuration as "recovered"). An nginx -t that
runs past --nginx-test-timeout is killed and retried after the hold-off. When nginx names lines of an Ingress, that Ingress is left
out (its last accepted version keeps serving, and it gets an NginxRejected
Warning) and the rest goes live in the same sync.

Status endpoints on --status-address (every interface by default, for the
kubelet's probes and Prometheus):
  /healthz        sync loop alive, nginx master not stopped (SIGSTOP) and
                  not down for longer than 30s (a quick restart is healthy)
  /readyz         first configuration verified live, and nginx running now
                  (503 while it restarts or is stopped)
  /metrics        Prometheus metrics (portico_reloads_total, portico_nginx_up,
                  portico_nginx_restarts_total, ...), and ingress-nginx's
                  controller series (nginx_ingress_controller_success,
                  _errors, _config_last_reload_successful, ...) under its
                  names and labels, for dashboards and alerts written for it
Debug endpoints on --debug-address (loopback by default: they show every
route, Pod IP and file path; use kubectl port-forward or exec to read them):
  /debug/config   the live nginx.conf (file paths only, never keys)
  /debug/reloads  the last reload events as JSON
  /debug/balancer the Lua balancer's endpoints and routes nginx holds (JSON)
  /debug/certs    the served TLS Secrets' certificates: hosts, validity,
                  issuer, serial, SHA-256 fingerprint (JSON; never keys)
  /debug/ingresses the Ingresses served, with hosts, paths, backends and
                  findings (JSON)
Read them all with "portico inspect" (or "kubectl portico inspect").

With --admission-address the controller also serves a validating admission
webhook (HTTPS, path /validate) for Ingresses and the options ConfigMap: a
bad Ingress is refused at kubectl apply with the reason, warnings are shown,
and the verdict is portico check's. It decides with the model against the
controller's current view of the cluster; it never runs nginx, writes a file
or renders nginx.conf from the object under review. Its certificate is
managed in --admission-secret (CA and serving pair, caBundle patched into
--admission-webhook-name, renewed with a third of its validity left) unless
--admission-cert-dir gives one (see docs/admission.md).`,
		Example: `  # In a Pod beside the nginx container (see deploy/):
  portico controller --configmap portico/portico --publish-service portico/portico

  # Serve the manifests in ./examples, running nginx as a child process:
  portico controller --manifests examples --start-nginx --allow-loopback-backends \
    --http-port 8080 --https-port 8443 --config-dir /tmp/portico/conf --runtime-dir /tmp/portico/run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// nginx outlives a controller that dies, so dying must be
			// rare: a log reader that went away (a closed pipe on stderr)
			// would otherwise kill the controller with SIGPIPE in the
			// middle of a graceful stop, leaving nginx unsupervised. Writes
			// fail with EPIPE instead.
			signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
			return runController(ctx, f, stdout, stderr)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.manifests, "manifests", "", "serve the YAML manifests in this directory (or file) instead of watching the Kubernetes API")
	fs.StringVar(&f.cluster.kubeconfig, "kubeconfig", "", "kubeconfig file for the API server (default: the Pod's service account)")
	fs.StringVar(&f.cluster.watchNamespace, "watch-namespace", "", "watch only this namespace (default: all namespaces)")
	fs.StringVar(&f.cluster.publishService, "publish-service", "", "NAMESPACE/NAME of the Service whose address goes into Ingress status")
	fs.StringSliceVar(&f.cluster.publishStatusAddresses, "publish-status-address", nil, "IP addresses or host names to put into Ingress status instead of --publish-service")
	fs.BoolVar(&f.cluster.updateStatusOnShutdown, "update-status-on-shutdown", false, "clear the Ingress status this controller wrote when it shuts down")
	fs.StringVar(&f.cluster.electionID, "election-id", "portico-leader", "name of the Lease replicas use to elect the one that writes status")
	fs.DurationVar(&f.cluster.leaseDuration, "election-lease-duration", 15*time.Second, "how long a leader's Lease lasts without renewal; a new leader takes over after it")
	fs.DurationVar(&f.cluster.renewDeadline, "election-renew-deadline", 10*time.Second, "how long the leader keeps trying to renew before it steps down")
	fs.DurationVar(&f.cluster.retryPeriod, "election-retry-period", 2*time.Second, "how often replicas try to acquire or renew the Lease")
	fs.StringVar(&f.configDir, "config-dir", "/etc/portico", "directory for the generated nginx.conf and certificate files (shared with the nginx container)")
	fs.StringVar(&f.runtimeDir, "runtime-dir", "/tmp/portico", "directory for nginx's pid file and temporary files")
	fs.StringVar(&f.nginxBinary, "nginx-binary", "nginx", "nginx executable, used for nginx -t and --start-nginx")
	fs.StringVar(&f.pidFile, "nginx-pid-file", "", "pid file of the nginx master to signal (default: RUNTIME-DIR/nginx.pid)")
	fs.BoolVar(&f.startNginx, "start-nginx", false,
		"start and supervise nginx as a child process instead of signalling a sidecar; nginx outlives a killed controller, and the next one started "+
			"with the same --runtime-dir and --config-dir adopts it")
	fs.StringVar(&f.template, "template", "", "nginx.conf template file; watched and reloaded on change (default: the built-in template)")
	fs.StringVar(&f.statusAddress, "status-address", ":10254", "address of the probe and metrics HTTP server (/healthz, /readyz, /metrics)")
	fs.StringVar(&f.debugAddress, "debug-address", "127.0.0.1:10255",
		"address of the debug HTTP server (/debug/config, /debug/reloads, /debug/balancer, /debug/certs, /debug/ingresses); the same as --status-address serves both on one port; \"\" turns it off")
	fs.DurationVar(&f.holdOff, "sync-holdoff", 200*time.Millisecond, "wait this long after a change for more changes before syncing (the first change after a quiet period waits only 10ms)")
	fs.DurationVar(&f.maxHoldOff, "sync-max-holdoff", time.Second, "sync at the latest this long after the first change of a burst")
	fs.DurationVar(&f.endpointHold, "sync-endpoint-holdoff", 20*time.Millisecond,
		"with the Lua balancer, wait only this long after EndpointSlice-only changes: they are pushed to nginx, never reloaded")
	fs.DurationVar(&f.externalEvery, "external-name-interval", resolve.DefaultInterval,
		"how often the controller resolves the names of ExternalName Services again (with --resolver); new answers reach nginx "+
			"without a reload with the Lua balancer")
	fs.DurationVar(&f.reloadTimeout, "reload-timeout", 30*time.Second, "how long nginx may take to serve a new configuration before the reload counts as failed")
	fs.DurationVar(&f.testTimeout, "nginx-test-timeout", 30*time.Second,
		"how long one nginx -t may run before it is killed with every process it started; the sync is then retried after the hold-off")
	fs.IntVar(&f.history, "reload-history", 50, "number of reload events kept for /debug/reloads")
	fs.DurationVar(&f.expiryWarning, "certificate-expiry-warning", model.DefaultCertificateExpiryWarning,
		"report a served TLS certificate this long before it expires (CertificateExpiresSoon); expired ones are always reported (CertificateExpired)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	f.model.register(fs)
	f.admission.register(fs)
	return cmd
}

func runController(ctx context.Context, f controllerFlags, stdout, stderr io.Writer) error {
	started := time.Now()
	log, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	modelOpts, configDir, err := prepareDirs(f)
	if err != nil {
		return err
	}
	if err := setAddressPolicy(&modelOpts, f, os.Getenv); err != nil {
		return err
	}
	resolver, err := newResolver(f, modelOpts, log)
	if err != nil {
		return err
	}
	resolveModSecurity(&modelOpts, log)
	resolveHeadersMore(&modelOpts, log)
	balancer, err := resolveBalancer(ctx, f.nginxProbe(modelOpts.Global.RuntimeDir), f.model.balancer, &modelOpts, log)
	if err != nil {
		return err
	}
	template, err := readTemplate(f.template)
	if err != nil {
		return err
	}
	ngx := newNginx(f, &modelOpts, configDir, log.With("component", "nginx"))
	removeStaleTemps(ngx.driver, log)
	pod := podIdentity()
	out := newOutputs(log, ngx, balancer, f.history, started,
		compat.Controller{Namespace: pod.Namespace, Class: f.model.controllerClass, Pod: pod.Name})
	dynamic, checkLua, err := balancerStore(f, balancer, modelOpts.Global, log.With("component", "nginx"))
	if err != nil {
		return err
	}
	in, err := newInputs(f, modelOpts, log)
	if err != nil {
		return err
	}
	defer in.stop()
	if in.events != nil {
		out.recorder = reload.Multi(out.recorder, in.events)
		out.findings = multiFindings{out.findings, in.events}
	}
	requests := newRequestMetrics(f.model.requestMetrics, modelOpts.Global, balancer,
		compat.Controller{Namespace: pod.Namespace, Class: f.model.controllerClass, Pod: pod.Name},
		nginx.NewFigures("http://nginx"+nginx.MetricsPath, modelOpts.Global.InternalSocket), log.With("component", "metrics"))
	if requests != nil {
		out.registry.MustRegister(requests)
	}
	hook, err := newWebhook(f.admission, modelOpts, in.client, pod.Namespace, f.cluster.watchNamespace, out.registry, log.With("component", "admission"))
	if err != nil {
		return err
	}
	var observe func(*snapshot.Snapshot)
	if hook != nil {
		observe = hook.reviewer.SetSnapshot
	}
	views := &debugViews{}
	out.findings = multiFindings{out.findings, views}
	live := func(snap *snapshot.Snapshot, cfg *model.Config) {
		out.expiry.Set(servedExpiries(cfg))
		views.Live(cfg)
		out.orphans.Set(orphanIngresses(snap, cfg))
		if requests != nil {
			requests.SetRoutes(requestmetrics.RoutesOf(cfg))
		}
		if in.updater != nil {
			in.updater.Observe(snap, cfg)
		}
		if hook != nil {
			hook.reviewer.SetLive(cfg.Accepted, cfg.Owners)
		}
	}
	ctrl, err := controller.New(in.source, ngx.driver, controller.Options{
		Model:           modelOpts,
		HoldOff:         f.holdOff,
		MaxHoldOff:      f.maxHoldOff,
		EndpointHoldOff: f.endpointHold,
		SyncTimeout:     f.reloadTimeout + time.Minute,
		Template:        template,
		StartNginx:      ngx.start,
		Recorder:        out.recorder,
		Findings:        out.findings,
		Dynamic:         dynamic,
		Resolver:        resolver,
		CheckLua:        checkLua,
		Pushes:          out.pushes,
		Live:            live,
		Observe:         observe,
		Logger:          log.With("component", "controller"),
		GenerationBase:  uint64(started.UnixMilli()),
	})
	if err != nil {
		return err
	}
	watchNginx := ngx.notify(ctrl, in.events)
	statusOpts := status.Options{
		Logger:   log.With("component", "status"),
		Gatherer: out.registry,
		// nginx restarting quickly keeps the controller healthy; a
		// stopped nginx, or one down for longer than a restart takes,
		// does not. Readiness follows nginx at once.
		Health:   both(ctrl.Healthy, ngx.health.Healthy),
		Ready:    both(ctrl.Ready, ngx.health.Ready),
		Config:   ctrl.LiveConfig,
		Reloads:  out.history.Recent,
		Balancer: ctrl.BalancerData,
		// Built from the live config on request: names, dates and
		// fingerprints of certificates, never their PEM or keys.
		Certificates: views.Certificates,
		Ingresses:    views.Ingresses,
	}
	servers, err := listenStatus(statusOpts, f.statusAddress, f.debugAddress)
	if err != nil {
		return err
	}
	log.Info("portico controller starting", "version", version, "manifests", f.manifests,
		"config", ngx.opts.ConfigPath, "status", servers[0].addr, "debug", f.debugAddress,
		"start_nginx", f.startNginx, "balancer", balancer)

	tasks := []func(context.Context) error{ctrl.Run}
	if watchNginx != nil {
		tasks = append(tasks, watchNginx)
	}
	for _, s := range servers {
		tasks = append(tasks, s.serve)
	}
	if f.template != "" {
		tasks = append(tasks, func(ctx context.Context) error { return ctrl.WatchTemplate(ctx, f.template) })
	}
	if hook != nil {
		tasks = append(tasks, hook.tasks...)
	}
	if in.client != nil {
		tasks = append(tasks, func(ctx context.Context) error {
			return runLeaderElection(ctx, in.client, f.cluster, pod, in.updater, out.leader, log.With("component", "leader"))
		})
	}
	result := runAll(ctx, log, tasks)
	ngx.stop(log)
	log.Info("stopped")
	return result
}

// readTemplate reads --template; "" means the built-in template.
func readTemplate(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--template: %w", err)
	}
	return string(b), nil
}

// outputs are where the controller's results go besides the Kubernetes
// Events of inputs: metrics, the reload history, logs.
type outputs struct {
	registry *prometheus.Registry
	history  *reload.History
	recorder reload.Recorder
	findings controller.FindingRecorder
	pushes   *reload.PushMetrics
	// expiry is portico_certificate_expiry_timestamp_seconds of the live config.
	expiry *certs.ExpiryMetrics
	// leader is the leader election status the elector reports, for
	// nginx_ingress_controller_leader_election_status.
	leader *compat.Leadership
	// orphans are the live config's orphaned Ingresses, for
	// nginx_ingress_controller_orphan_ingress.
	orphans *compat.Orphans
}

// newOutputs builds the registry with Portico's portico_* series and, for
// dashboards and alerts written for ingress-nginx, its controller series
// (named for ctl) derived from the same state.
func newOutputs(log *slog.Logger, ngx nginxParts, balancer string, historySize int, started time.Time, ctl compat.Controller) outputs {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		// Counted from /proc at scrape time: old workers that outlive
		// reloads (long requests, websockets) show as shutting_down.
		nginx.NewWorkerCollector(ngx.proc),
		// portico_nginx_up, and portico_nginx_restarts_total when nginx is ours.
		nginx.NewProcessCollector(ngx.health, ngx.restarts()))
	history := reload.NewHistory(historySize)
	reloads := reload.NewMetrics(registry)
	expiry := certs.NewExpiryMetrics(registry)
	leader := &compat.Leadership{}
	orphans := &compat.Orphans{}
	registry.MustRegister(compat.NewCollector(ctl, compat.Sources{Reloads: reloads.Totals, Certificates: expiry.List, Leader: leader,
		Status: stubStatus(ngx.opts.Socket), Processes: nginxProcesses(ngx.proc), Orphans: orphans, Logger: log.With("component", "metrics")}))
	var firstLive sync.Once
	return outputs{
		registry: registry,
		history:  history,
		recorder: reload.Multi(
			reload.LogRecorder{Logger: log.With("component", "reload")},
			reloads,
			history,
			reload.RecorderFunc(func(ev reload.Event) {
				if ev.Result == reload.ResultSuccess {
					// The figure make bench reads for a cold start.
					firstLive.Do(func() {
						log.Info("first configuration live", "generation", ev.Generation,
							"since_start_ms", time.Since(started).Milliseconds())
					})
				}
			}),
		),
		findings: multiFindings{&controller.LogFindings{Logger: log.With("component", "model")}, controller.NewFindingMetrics(registry)},
		pushes:   reload.NewPushMetrics(registry, balancer),
		expiry:   expiry,
		leader:   leader,
		orphans:  orphans,
	}
}

// newRequestMetrics returns the collector of the request series, or nil
// when they are off or nginx runs without the Lua balancer, which is what
// records them.
func newRequestMetrics(f requestMetricsFlags, g model.Global, balancer string, ctl compat.Controller, src requestmetrics.Source, log *slog.Logger) *requestmetrics.Collector {
	if balancer != model.BalancerLua || g.RequestMetrics == "" {
		if f.on && balancer != model.BalancerLua {
			log.Warn("no request metrics: they are recorded by the Lua balancer, and nginx runs with upstream blocks")
		}
		return nil
	}
	return requestmetrics.NewCollector(f.opts, requestmetrics.Config{
		ConstLabels: prometheus.Labels{
			"controller_namespace": ctl.Namespace,
			"controller_class":     ctl.Class,
			"controller_pod":       ctl.Pod,
		},
		Source: src,
		Logger: log,
	})
}

// stubStatusTimeout bounds one stub_status read at scrape time.
const stubStatusTimeout = 2 * time.Second

// stubStatus returns how to read nginx's stub_status from the internal
// server's unix socket, nil without one: over TCP the internal server's
// name would have to be looked up, and it is not served there.
func stubStatus(socket string) func(context.Context) (nginx.StubStatus, error) {
	if socket == "" {
		return nil
	}
	return nginx.NewStatusClient("http://nginx"+nginx.StubStatusPath, socket, stubStatusTimeout).Read
}

// nginxProcesses returns how to read the figures of proc's master and its
// children from /proc: nginx is the controller's child, or shares its
// process namespace (shareProcessNamespace) in the sidecar mode.
func nginxProcesses(proc nginx.Process) func() (nginx.ProcessStats, bool, error) {
	r := nginx.NewProcessReader("/proc", os.Getpagesize())
	return func() (nginx.ProcessStats, bool, error) { return r.Read(proc.Pid()) }
}

// servedExpiries are the expiries of the TLS Secrets' certificates cfg
// serves, each with the hosts that present it (sorted, as cfg.Servers is).
func servedExpiries(cfg *model.Config) []certs.Expiry {
	hosts := map[string][]string{}
	for _, s := range cfg.Servers {
		if s.TLS != nil && s.Name != "" {
			hosts[s.TLS.CertificatePath] = append(hosts[s.TLS.CertificatePath], s.Name)
		}
	}
	var out []certs.Expiry
	for _, c := range cfg.Certificates {
		if ns, name, ok := strings.Cut(c.Secret, "/"); ok {
			out = append(out, certs.Expiry{Namespace: ns, Secret: name, NotAfter: c.NotAfter, Hosts: hosts[c.Path], Info: c.Info})
		}
	}
	return out
}

// orphanIngresses are the Ingresses cfg serves that are orphaned as
// ingress-nginx's orphan_ingress says: a backend (a location's Service, or
// a canary's) names a Service snap does not hold (no-service), or whose
// pool has no ready endpoint (no-endpoint; an unknown port counts so too,
// as in ingress-nginx). An Ingress cfg does not serve at all (refused,
// another namespace's host) has no locations and is not listed; its
// findings say why.
func orphanIngresses(snap *snapshot.Snapshot, cfg *model.Config) []compat.Orphan {
	services := make(map[string]bool, len(snap.Services))
	for _, s := range snap.Services {
		services[s.Namespace+"/"+s.Name] = true
	}
	ready := make(map[string]bool, len(cfg.Upstreams))
	for _, u := range cfg.Upstreams {
		ready[u.Name] = len(u.Endpoints) > 0
	}
	var out []compat.Orphan
	add := func(source, kind string) {
		if ns, name, ok := strings.Cut(source, "/"); ok {
			out = append(out, compat.Orphan{Namespace: ns, Ingress: name, Type: kind})
		}
	}
	visit := func(srv *model.Server) {
		for _, loc := range srv.Locations {
			if loc.Source == "" || loc.Action.Service == "" {
				continue // generated, or answered by nginx itself (redirects)
			}
			// Action.Service is "namespace/name:port".
			svc, _, _ := strings.Cut(loc.Action.Service, ":")
			switch {
			case !services[svc]:
				add(loc.Source, compat.OrphanNoService)
			case loc.Action.Upstream == "" || !ready[loc.Action.Upstream]:
				add(loc.Source, compat.OrphanNoEndpoint)
			}
			if r, ok := cfg.Routes[loc.Route]; ok && r.Canary != nil {
				if has, known := ready[r.Canary.Backend]; known && !has {
					add(r.Canary.Source, compat.OrphanNoEndpoint)
				}
			}
		}
	}
	visit(&cfg.DefaultServer)
	for i := range cfg.Servers {
		visit(&cfg.Servers[i])
	}
	return out
}

// removeStaleTemps removes the candidate configs an earlier run left in the
// config directory (killed between writing one and renaming or removing
// it), and says which. Failing to is not fatal: they only take space.
func removeStaleTemps(d *nginx.Driver, log *slog.Logger) {
	removed, err := d.RemoveStaleTemps()
	for _, p := range removed {
		log.Info("removed a temporary config left by an earlier run", "path", p)
	}
	if err != nil {
		log.Warn("could not remove temporary configs left by an earlier run", "error", err)
	}
}

// nginxProbe is what the Lua probes need to run nginx -t; their files go
// under the runtime directory, as the Pod's root filesystem is read-only.
func (f controllerFlags) nginxProbe(runtimeDir string) nginx.Options {
	return nginx.Options{Binary: f.nginxBinary, TestTimeout: f.testTimeout, Prefix: runtimeDir}
}

// balancerStore returns, for the Lua balancer, where its data goes and the
// probe that checks nginx's Lua module (nil, nil for upstream blocks). A
// copy of each push is kept under the runtime directory, nginx's prefix,
// for an nginx that restarts (nginx.SeedFile).
func balancerStore(f controllerFlags, balancer string, g model.Global, log *slog.Logger) (controller.DynamicStore, func(context.Context) error, error) {
	if balancer != model.BalancerLua {
		return nil, nil, nil
	}
	var checkLua func(context.Context) error
	if f.template == "" {
		// The built-in template's copy for nginx -t leaves the Lua
		// module out (much faster); the probe checks that part.
		checkLua = luaChecker(f.nginxProbe(g.RuntimeDir), g)
	}
	dyn := nginx.NewDynamic("http://nginx"+nginx.DynamicPath, g.InternalSocket)
	if err := dyn.KeepSeed(filepath.Join(g.RuntimeDir, nginx.SeedFile), log); err != nil {
		return nil, nil, err
	}
	return dyn, checkLua, nil
}

// both returns a check that fails with the first of a and b that fails.
func both(a, b func() error) func() error {
	return func() error {
		if err := a(); err != nil {
			return err
		}
		return b()
	}
}

// statusListener is one status HTTP server, listening.
type statusListener struct {
	addr  string
	serve func(context.Context) error
	close func() error
}

// listenStatus opens the probe and metrics server on statusAddr and the
// debug server on debugAddr: one server when they are the same, none for
// debug when debugAddr is "".
func listenStatus(opts status.Options, statusAddr, debugAddr string) ([]statusListener, error) {
	type group struct {
		addr  string
		serve status.Endpoints
	}
	groups := []group{{statusAddr, status.Probes}}
	switch debugAddr {
	case "":
	case statusAddr:
		groups[0].serve = status.All
	default:
		groups = append(groups, group{debugAddr, status.Debug})
	}
	var out []statusListener
	for _, g := range groups {
		o := opts
		o.Address, o.Serve = g.addr, g.serve
		srv := status.New(o)
		ln, err := srv.Listen()
		if err != nil {
			for _, opened := range out {
				_ = opened.close() // the listen error is what matters
			}
			return nil, err
		}
		out = append(out, statusListener{addr: ln.Addr().String(),
			serve: func(ctx context.Context) error { return srv.Serve(ctx, ln) }, close: ln.Close})
	}
	return out, nil
}

// runAll runs the tasks until ctx ends or one of them fails; a failure
// stops the others, so the process exits instead of running half-alive.
func runAll(ctx context.Context, log *slog.Logger, tasks []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(tasks))
	var wg sync.WaitGroup
	for _, task := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := task(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				log.Error("stopping: a component failed", "error", err)
				cancel()
			}
			errs <- err
		}()
	}
	<-ctx.Done()
	log.Info("shutting down")
	wg.Wait()
	close(errs)
	var result error
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			result = errors.Join(result, err)
		}
	}
	return result
}

// prepareDirs validates the flags, creates the config and runtime
// directories (0700) and the default certificate, and returns the model options.
func prepareDirs(f controllerFlags) (model.Options, string, error) {
	configDir, err := filepath.Abs(f.configDir)
	if err != nil {
		return model.Options{}, "", fmt.Errorf("--config-dir: %w", err)
	}
	runtimeDir, err := filepath.Abs(f.runtimeDir)
	if err != nil {
		return model.Options{}, "", fmt.Errorf("--runtime-dir: %w", err)
	}
	defaultCert := filepath.Join(configDir, "certs", "default-selfsigned.pem")
	modelOpts, err := f.model.options(runtimeDir, configDir, defaultCert)
	if err != nil {
		return model.Options{}, "", err
	}
	if f.pidFile != "" {
		modelOpts.Global.PIDFile = f.pidFile
	}
	if f.expiryWarning < 0 {
		return model.Options{}, "", fmt.Errorf("--certificate-expiry-warning %s: must not be negative", f.expiryWarning)
	}
	modelOpts.CertificateExpiryWarning = f.expiryWarning
	// 0711: nginx workers (another user when the master is root) must be
	// able to enter the auth directory to open htpasswd files they own;
	// they can list nothing, and certificate files stay 0600 root-owned.
	for _, dir := range []string{configDir, filepath.Join(configDir, "certs"), filepath.Join(configDir, "auth"), runtimeDir} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return model.Options{}, "", fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := chmodOwnDir(dir, 0o711); err != nil {
			return model.Options{}, "", fmt.Errorf("creating %s: %w", dir, err)
		}
	}
	// Only the controller and nginx (root, or this user) may reach the
	// internal server's socket: it takes the balancer's data.
	internalDir := filepath.Dir(modelOpts.Global.InternalSocket)
	if err := os.MkdirAll(internalDir, 0o700); err != nil {
		return model.Options{}, "", fmt.Errorf("creating %s: %w", internalDir, err)
	}
	if err := chmodOwnDir(internalDir, 0o700); err != nil {
		return model.Options{}, "", fmt.Errorf("creating %s: %w", internalDir, err)
	}
	if err := writeDefaultCertificate(defaultCert); err != nil {
		return model.Options{}, "", err
	}
	return modelOpts, configDir, nil
}

// nginxParts is how the controller reaches nginx: the driver, the process
// to signal, and in --start-nginx mode the supervisor that runs it.
type nginxParts struct {
	opts       nginx.Options
	driver     *nginx.Driver
	proc       nginx.Process
	health     *nginx.Health
	supervisor *nginx.Supervisor
	start      func() error
}

// restarts returns how to read the restart count of the nginx this process
// runs, nil for nginx in another container (its restarts are the kubelet's).
func (n nginxParts) restarts() func() uint64 {
	if n.supervisor == nil {
		return nil
	}
	return n.supervisor.Restarts
}

// nginxWatchEvery is how often, with nginx in another container, the pid
// file is read to notice that nginx restarted.
const nginxWatchEvery = 100 * time.Millisecond

// notify wires what happens when nginx restarts: the balancer data is
// pushed again at once, and an nginx of ours that exited becomes a Warning
// Event on the Pod (when there is a cluster). For nginx in another
// container it returns the task that watches its pid file.
func (n nginxParts) notify(ctrl *controller.Controller, ev *events.Recorder) func(context.Context) error {
	if n.supervisor == nil {
		return func(ctx context.Context) error {
			return nginx.WatchMaster(ctx, n.proc, nginxWatchEvery, func(int) { ctrl.NginxUp() })
		}
	}
	n.supervisor.OnUp(func(int) { ctrl.NginxUp() })
	if ev != nil {
		n.supervisor.OnRestart(func(r nginx.Restart) {
			ev.NginxRestarted(r.Pid, r.Status, r.Uptime, r.Wait, r.Count)
		})
	}
	return nil
}

// stop stops the nginx this process started, if it did.
func (n nginxParts) stop(log *slog.Logger) {
	if n.supervisor == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.supervisor.Stop(ctx); err != nil {
		log.Warn("stopping nginx", "error", err)
	}
}

func newNginx(f controllerFlags, modelOpts *model.Options, configDir string, log *slog.Logger) nginxParts {
	g := modelOpts.Global
	opts := nginx.Options{
		Binary:        f.nginxBinary,
		ConfigPath:    filepath.Join(configDir, "nginx.conf"),
		PIDFile:       g.PIDFile,
		Prefix:        g.RuntimeDir,
		VerifyURL:     "http://nginx/portico/generation",
		Socket:        g.InternalSocket,
		VerifyTimeout: f.reloadTimeout,
		TestTimeout:   f.testTimeout,
		Logger:        log,
	}
	parts := nginxParts{opts: opts, proc: nginx.PIDFileProcess{Path: g.PIDFile}}
	if f.startNginx {
		parts.supervisor = nginx.NewSupervisor(opts, nil, nil)
		parts.proc = parts.supervisor
		parts.start = parts.supervisor.Start
	}
	parts.driver = nginx.NewDriver(opts, parts.proc)
	parts.health = nginx.NewHealth(parts.proc, nginx.DefaultDownGrace)
	return parts
}

// inputs are where objects come from and, in a cluster, where Events and
// status go.
type inputs struct {
	source  controller.Source
	client  kubernetes.Interface
	updater *ingressstatus.Updater
	events  *events.Recorder
	stop    func()
}

func newInputs(f controllerFlags, modelOpts model.Options, log *slog.Logger) (inputs, error) {
	if f.manifests != "" {
		return inputs{source: newManifestSource(f.manifests, log.With("component", "manifests")), stop: func() {}}, nil
	}
	client, _, err := kubeClient(f.cluster.kubeconfig)
	if err != nil {
		return inputs{}, err
	}
	var extra []string
	if modelOpts.DefaultSSLCertificate != "" {
		extra = append(extra, modelOpts.DefaultSSLCertificate)
	}
	source, err := kube.New(kube.Options{Client: client, Namespace: f.cluster.watchNamespace,
		ConfigMap: modelOpts.ConfigMap, AnnotationPrefix: modelOpts.AnnotationPrefix, ExtraSecrets: extra,
		Logger: log.With("component", "kube")})
	if err != nil {
		return inputs{}, err
	}
	updater, err := ingressstatus.New(ingressstatus.Options{Client: client, PublishService: f.cluster.publishService,
		PublishAddresses: f.cluster.publishStatusAddresses, Logger: log.With("component", "status-writer")})
	if err != nil {
		return inputs{}, err
	}
	rec, stop := newEventRecorder(client, log)
	return inputs{
		source:  source,
		client:  client,
		updater: updater,
		events:  events.New(rec, podIdentity(), 30*time.Minute, log.With("component", "events")),
		stop:    stop,
	}, nil
}

// writeDefaultCertificate makes the self-signed fallback certificate, mode
// 0600 from the first byte, so TLS servers have something to present before
// any Secret is valid.
func writeDefaultCertificate(path string) error {
	if certs.Usable(path, 30*24*time.Hour) {
		return nil // keep the one a previous run made: nginx may be serving it
	}
	pem, err := certs.SelfSigned(certs.DefaultCommonName, 365*24*time.Hour)
	if err != nil {
		return fmt.Errorf("default certificate: %w", err)
	}
	_ = os.Remove(path) // O_CREATE keeps the mode of an existing file
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("writing default certificate: %w", err)
	}
	if _, err := file.Write(pem); err != nil {
		_ = file.Close()
		return fmt.Errorf("writing default certificate: %w", err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("writing default certificate: %w", err)
	}
	return nil
}

// multiFindings hands findings to several recorders (logs and Events).
type multiFindings []controller.FindingRecorder

func (m multiFindings) Findings(f []model.Finding) {
	for _, r := range m {
		r.Findings(f)
	}
}

// chmodOwnDir sets dir's mode, except on a directory another user owns that
// refuses the change: the Pod's emptyDirs (/etc/portico, /tmp/portico) are
// mount points the kubelet makes root-owned and 0777, which the controller,
// running as uid 101, may use but not chmod. The directories it creates
// itself under them still get their mode.
func chmodOwnDir(dir string, mode os.FileMode) error {
	err := os.Chmod(dir, mode)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	fi, serr := os.Stat(dir)
	if serr != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return nil
	}
	return err
}
