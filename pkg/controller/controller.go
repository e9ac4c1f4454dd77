// Package controller runs the sync loop: on every change it takes a
// snapshot from the source, builds the model, renders nginx.conf and, when
// the bytes changed, makes them live through the nginx driver. Each attempt
// becomes one reload event.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"k8s.io/client-go/util/workqueue"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/pkg/reload"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// Source provides snapshots and says when they may have changed.
type Source interface {
	// Snapshot returns the current objects.
	Snapshot() (*snapshot.Snapshot, error)
	// Run watches for changes and calls changed after each; it returns when ctx ends.
	Run(ctx context.Context, changed func()) error
}

// Nginx makes a rendered configuration live; *nginx.Driver implements it.
type Nginx interface {
	// ApplyChange writes, tests, swaps in, reloads and verifies a configuration.
	ApplyChange(ctx context.Context, c nginx.Change) (nginx.Result, error)
	// Verify waits until nginx serves the generation.
	Verify(ctx context.Context, generation uint64) error
	// CleanupFiles removes files in dir that are not in keep.
	CleanupFiles(dir string, keep map[string]bool) error
}

// FindingRecorder receives the findings of every model build.
type FindingRecorder interface {
	// Findings is called after each build with all current findings.
	Findings(findings []model.Finding)
}

// Options configures a Controller.
type Options struct {
	// Model are the options passed to model.Build.
	Model model.Options
	// HoldOff is how long the loop waits for a burst of changes to settle.
	HoldOff time.Duration
	// MaxHoldOff caps the wait from the first change of a burst.
	MaxHoldOff time.Duration
	// EndpointHoldOff is the wait for a burst of EndpointSlice-only changes
	// with the Lua balancer (no reload, only a push); 0 means HoldOff.
	EndpointHoldOff time.Duration
	// SyncTimeout bounds one sync (test, reload and verify).
	SyncTimeout time.Duration
	// RetryDelay is the wait before the first retry of a sync that failed
	// for a reason other than nginx -t refusing the config (a reload nginx
	// did not confirm, a write, signal or push that failed); each failure
	// in a row doubles it up to MaxRetryDelay. 0 means 500ms.
	RetryDelay time.Duration
	// MaxRetryDelay caps the wait between retries; 0 means 30s.
	MaxRetryDelay time.Duration
	// Template is the template text; "" selects the embedded default.
	Template string
	// StartNginx starts nginx after the first configuration is written, in
	// --start-nginx mode; nil in sidecar mode, where nginx already runs.
	StartNginx func() error
	// NginxAlive reports whether the nginx master is running, for /healthz.
	NginxAlive func() bool
	// Recorder receives one event per reload attempt.
	Recorder reload.Recorder
	// Findings receives the model's findings after every build.
	Findings FindingRecorder
	// Dynamic receives the Lua balancer's data (endpoints, traffic
	// policies); nil with the upstreams balancer, where endpoints are in
	// nginx.conf and every change reloads.
	Dynamic DynamicStore
	// Resolver resolves the DNS names of ExternalName Services; nil leaves
	// them without addresses (503).
	Resolver Resolver
	// Pushes receives one call per push to Dynamic; may be nil.
	Pushes PushRecorder
	// DynamicCheck is how often the controller checks that nginx still holds
	// the balancer data (a restarted nginx holds none); 0 means 1s.
	DynamicCheck time.Duration
	// CheckLua, when set, checks nginx's Lua module and Portico's Lua code
	// with a small probe config. nginx -t then checks a copy of the config
	// without the Lua module, which loads several times faster; without it
	// nginx -t checks the config as it is.
	CheckLua func(ctx context.Context) error
	// Live is called after every sync that leaves this snapshot's config
	// live (applied now, or unchanged), e.g. to write Ingress status.
	Live func(snap *snapshot.Snapshot, cfg *model.Config)
	// Observe, when set, is called with every snapshot a sync reads (with
	// its DNS answers), before it is built, whatever becomes of it: the
	// admission webhook judges objects against it. It must only read it.
	Observe func(snap *snapshot.Snapshot)
	// Logger is the structured logger.
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// GenerationBase is where this run's generations count up from (the
	// first config made live is GenerationBase+1). A controller that
	// adopts a running nginx, or reloads the nginx of a sidecar that
	// outlived the previous controller, must not take the previous run's
	// config for its own when it verifies a reload; the controller command
	// passes its start time in milliseconds, which no earlier run's count
	// reaches (that would take more than one reload per millisecond).
	GenerationBase uint64
}

// Controller is the sync loop. Create it with New and start it with Run.
type Controller struct {
	opts   Options
	source Source
	nginx  Nginx
	queue  *holdoff
	// retries backs off syncs that fail in a row (retry, the one place a
	// sync is retried without a change).
	retries workqueue.TypedRateLimiter[string]
	log     *slog.Logger
	now     func() time.Time

	mu          sync.Mutex
	renderer    *render.Renderer
	rendererGen uint64 // bumped when the template changes, to force a re-render
	generation  uint64
	liveHash    string
	liveGen     uint64 // rendererGen the live config was rendered with
	failedHash  string
	liveConf    []byte
	digests     map[string]string
	nginxUp     bool
	busySince   time.Time
	loopRunning bool
	// accepted are the Ingress versions of the live config, passed back to
	// the model so an edit that breaks an Ingress keeps its last good version.
	accepted map[string]*networkingv1.Ingress
	// owners are the hosts' namespaces in the live config, passed back to
	// the model so a host stays with the namespace that owns it.
	owners map[string]string
	// excluded are Ingress versions nginx -t refused, excludedConfigMap a
	// version of the options ConfigMap it refused (exclude.go).
	excluded          map[string]model.Exclusion
	excludedConfigMap *model.ConfigMapExclusion
	// liveConfigMap is the options ConfigMap version of the live config.
	liveConfigMap *corev1.ConfigMap
	// liveConfigMapValues are the live config's ConfigMap values in effect (Options.LastConfigMapValues).
	liveConfigMapValues map[string]string
	// liveGlobalAuth is the live config's accepted global auth (Options.LastGlobalAuth).
	liveGlobalAuth *model.GlobalAuth
	// liveCertificates are the live config's certificate files, passed
	// back to the model so a TLS Secret that turns bad keeps its last
	// accepted key pair.
	liveCertificates []model.Certificate
	// recheck builds again when a certificate expires or enters its
	// warning window (recheck.go).
	recheck recheck

	// pushMu serialises pushes of balancer data, from Sync and from the
	// check that re-pushes to a restarted nginx.
	pushMu sync.Mutex
	// upNow wakes that check at once when a new nginx master is up (NginxUp).
	upNow chan struct{}
	// pushed is the balancer data nginx holds, as JSON and md5 (guarded by mu).
	pushed     model.Dynamic
	pushedBody []byte
	pushedSum  string
	// liveCfg is the model of the config nginx serves, nil until one is
	// verified live (Ready); endpoint-only syncs refresh its pools (guarded by mu).
	liveCfg *model.Config
	// servedGeneration is the generation of the config nginx serves (guarded by mu).
	servedGeneration uint64
	// failing is set while the last reload attempt recorded failed, until
	// a success or a recovery (guarded by mu).
	failing bool
}

// New checks the template and returns a controller.
func New(source Source, ngx Nginx, opts Options) (*Controller, error) {
	r, err := render.New(opts.Template)
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Recorder == nil {
		opts.Recorder = reload.Multi()
	}
	if opts.SyncTimeout <= 0 {
		opts.SyncTimeout = 2 * time.Minute
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = 500 * time.Millisecond
	}
	if opts.MaxRetryDelay < opts.RetryDelay {
		opts.MaxRetryDelay = max(30*time.Second, opts.RetryDelay)
	}
	if opts.DynamicCheck <= 0 {
		opts.DynamicCheck = time.Second
	}
	if opts.Model.KeyPairs == nil {
		// One cache for the controller's life: a build does not check
		// again the key pairs of TLS Secrets that did not change.
		opts.Model.KeyPairs = model.NewKeyPairCache()
	}
	if opts.Model.Units == nil {
		// Likewise for the translation of Ingresses that did not change.
		opts.Model.Units = model.NewUnitCache()
	}
	now := opts.Clock
	if now == nil {
		now = time.Now
	}
	return &Controller{
		opts:       opts,
		source:     source,
		nginx:      ngx,
		queue:      newHoldoff(opts.HoldOff, opts.MaxHoldOff, endpointHoldOff(opts)),
		retries:    workqueue.NewTypedItemExponentialFailureRateLimiter[string](opts.RetryDelay, opts.MaxRetryDelay),
		log:        opts.Logger,
		now:        now,
		renderer:   r,
		generation: opts.GenerationBase,
		nginxUp:    opts.StartNginx == nil,
		upNow:      make(chan struct{}, 1),
	}, nil
}

// Trigger asks for a sync; bursts of triggers coalesce.
func (c *Controller) Trigger() { c.queue.Trigger() }

// TriggerEndpoints asks for a sync after EndpointSlice-only changes. With
// the Lua balancer it waits only EndpointHoldOff and pushes the new
// endpoints without building nginx.conf again.
func (c *Controller) TriggerEndpoints() { c.queue.TriggerEndpoints() }

func endpointHoldOff(opts Options) time.Duration {
	if opts.Dynamic == nil || opts.EndpointHoldOff <= 0 {
		// Without the Lua balancer an endpoint change is a reload: it gets
		// the same coalescing as any other.
		return opts.HoldOff
	}
	return opts.EndpointHoldOff
}

// SetTemplate replaces the template (after an edit of --template). A template
// that does not parse is rejected and the current one stays.
func (c *Controller) SetTemplate(text string) error {
	r, err := render.New(text)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.renderer = r
	c.rendererGen++
	c.failedHash = ""
	c.excluded, c.excludedConfigMap = nil, nil // another template: everything is tried again
	c.mu.Unlock()
	c.Trigger()
	return nil
}

// Run syncs once at start and then after every change, until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	c.loopRunning = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.loopRunning = false
		c.mu.Unlock()
	}()
	if n, ok := c.source.(EndpointNotifier); ok && c.opts.Dynamic != nil {
		n.NotifyEndpoints(c.TriggerEndpoints)
	}
	srcErr := make(chan error, 1)
	go func() { srcErr <- c.source.Run(ctx, c.Trigger) }()
	if c.opts.Dynamic != nil {
		go c.keepDynamic(ctx)
	}
	go c.runResolver(ctx)
	c.Trigger()
	for {
		full, ok := c.queue.Wait(ctx)
		if !ok {
			break
		}
		var err error
		handled := false
		if !full {
			handled, err = c.syncEndpoints(ctx)
		}
		if !handled {
			err = c.Sync(ctx)
		}
		c.retry(err)
	}
	if err := <-srcErr; err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("source: %w", err)
	}
	return nil
}

// syncKey is the one key the sync loop retries under: every sync covers
// every object, so failures in a row are one item's.
const syncKey = "sync"

// retry is the one place a failed sync is retried (the sample-controller
// pattern, with client-go's rate limiter): after err the next full sync
// waits RetryDelay, doubled for each failure in a row up to MaxRetryDelay;
// a sync that succeeds (or waits for a change) resets the backoff. The
// wait goes through the hold-off queue, so a change meanwhile coalesces
// with the retry.
func (c *Controller) retry(err error) {
	if err == nil {
		c.retries.Forget(syncKey)
		return
	}
	delay := c.retryDelay(err)
	c.log.Warn("sync failed; retrying", "error", err, "in", delay, "failures_in_a_row", c.retries.NumRequeues(syncKey))
	c.queue.TriggerAfter(delay)
}

// retryDelay counts one more failure in a row and returns the wait before
// the retry. A sync whose nginx -t ran past its deadline already waited
// that long (--nginx-test-timeout), which is backoff enough: it is retried
// after the hold-off, so while nginx -t hangs it runs at most once per
// deadline plus hold-off, and once nginx can finish it again (the NFS
// mount is back), the config goes live within a hold-off of the end of the
// attempt that found it hung, instead of after up to MaxRetryDelay more.
func (c *Controller) retryDelay(err error) time.Duration {
	delay := c.retries.When(syncKey)
	var hung *nginx.TestTimeoutError
	if errors.As(err, &hung) {
		return min(delay, c.opts.HoldOff)
	}
	return delay
}

// Sync runs one build-render-apply cycle now. It returns an error when the
// same objects should be tried again (a reload nginx did not confirm, a
// write, signal or push that failed, the source unreadable); nginx -t
// refusing a config is not one: the same objects would be refused again,
// so a change is awaited. Run calls it; tests may too.
func (c *Controller) Sync(ctx context.Context) error {
	c.mu.Lock()
	c.busySince = c.now()
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.busySince = time.Time{}
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, c.opts.SyncTimeout)
	defer cancel()

	snap, err := c.source.Snapshot()
	if errors.Is(err, snapshot.ErrNotSynced) {
		c.log.Debug("waiting for the source's initial sync")
		return nil // the source triggers a sync once it has synced
	}
	if err != nil {
		return fmt.Errorf("reading objects (the current configuration keeps serving): %w", err)
	}
	snap = c.withAnswers(snap)
	if c.opts.Observe != nil {
		c.opts.Observe(snap)
	}
	for round := 0; ; round++ {
		refused, rendered, err := c.syncSnapshot(ctx, snap)
		if refused == nil || round >= maxExclusionRounds {
			return err
		}
		// nginx -t refused the config: leave out the Ingresses whose lines
		// it refused and try the rest, so that one object cannot hold back
		// every other change. Their last accepted versions keep serving.
		if !c.exclude(snap, render.Blame(rendered, refused.Output), refused.Output) {
			return nil
		}
	}
}

// maxExclusionRounds bounds the builds a sync makes after nginx -t refused
// a config: each round leaves out the Ingresses nginx named and costs an
// nginx -t (about a second at 10,000 Ingresses).
const maxExclusionRounds = 4

// syncSnapshot builds, renders and makes live the config of snap. When
// nginx -t refused it, it returns nginx's error and the text tested; err
// is a failure worth a retry.
func (c *Controller) syncSnapshot(ctx context.Context, snap *snapshot.Snapshot) (refused *nginx.TestError, rendered []byte, err error) {
	opts := c.opts.Model
	c.mu.Lock()
	opts.LastAccepted = c.accepted
	opts.LastOwners = c.owners
	opts.Excluded = c.excludedIn(snap)
	opts.ExcludedConfigMap = c.excludedConfigMapIn(snap)
	opts.LastConfigMap = c.liveConfigMap
	opts.LastConfigMapValues = c.liveConfigMapValues
	opts.LastGlobalAuth = c.liveGlobalAuth
	opts.LastCertificates = c.liveCertificates
	c.mu.Unlock()
	buildStart := c.now()
	opts.Now = buildStart // certificate expiry: the model reads no clock
	cfg, findings := model.Build(snap, opts)
	c.recheckAt(cfg.RecheckAt)
	if c.opts.Findings != nil {
		c.opts.Findings.Findings(findings)
	}
	c.wantNames(cfg)
	defer c.wantNames(cfg) // again once live: the last config's names may go

	c.mu.Lock()
	r, rendererGen := c.renderer, c.rendererGen
	c.mu.Unlock()
	// One render per sync: the hash leaves the generation out, and apply
	// only fills it in.
	renderStart := c.now()
	out, err := r.Prepare(cfg)
	if err != nil {
		// The same objects and template would fail again: wait for a change.
		c.log.Error("rendering failed; keeping the current configuration", "error", err)
		return nil, nil, nil
	}
	if c.log.Enabled(ctx, slog.LevelDebug) {
		st := opts.Units.LastBuild()
		c.log.Debug("configuration built", "ingresses", len(cfg.Ingresses), "servers", len(cfg.Servers),
			"build_ms", msSince(buildStart, renderStart), "render_ms", msSince(renderStart, c.now()),
			"units", st.Units, "units_translated", st.Translated, "patched", st.Patched, "whole_build", st.Whole)
	}
	hash := out.Hash()
	c.mu.Lock()
	unchanged := hash == c.liveHash && rendererGen == c.liveGen && c.liveCfg != nil
	alreadyFailed := hash == c.failedHash
	c.mu.Unlock()
	if unchanged {
		c.log.Debug("configuration unchanged; no reload", "config_hash", short(hash), "objects", snap.Len())
		// Endpoints and traffic policies are not in nginx.conf: they reach
		// nginx without a reload.
		if err := c.pushDynamic(ctx, dynamicAt(cfg, c.liveGeneration())); err != nil {
			return nil, nil, fmt.Errorf("pushing balancer data: %w", err)
		}
		c.mu.Lock()
		c.liveCfg = cfg
		c.mu.Unlock()
		c.recordRecovery(len(opts.Excluded) > 0 || opts.ExcludedConfigMap != nil)
		c.notifyLive(snap, cfg)
		return nil, nil, nil
	}
	if alreadyFailed {
		c.log.Debug("configuration already rejected; waiting for a change", "config_hash", short(hash))
		// A rejected config must not hold back Pod churn for every other
		// Ingress: the live config's pools still get their endpoints.
		// Its findings are current: no build for stale ones, which would
		// only find the same rejected config again.
		_, _, err := c.pushEndpoints(ctx, snap)
		return nil, nil, err
	}
	live, conf, err := c.apply(ctx, out, rendererGen, cfg, hash)
	if live {
		c.notifyLive(snap, cfg)
		return nil, nil, nil
	}
	if errors.As(err, &refused) {
		return refused, conf, nil
	}
	if ctx.Err() != nil {
		return nil, nil, nil // shutdown, or the sync's own timeout: not the objects'
	}
	return nil, nil, err
}

// recordRecovery records, after failed attempts, that the config wanted
// is the live one again (the change was reverted, or what nginx -t refused
// is left out, as excluded says): nginx runs what is wanted, so the
// metrics and history must stop saying the last reload failed. The
// unchanged path reloads nothing and would otherwise record nothing.
func (c *Controller) recordRecovery(excluded bool) {
	c.mu.Lock()
	if !c.failing {
		c.mu.Unlock()
		return
	}
	c.failing = false
	ev := reload.Event{Time: c.now(), Result: reload.ResultRecovered, Generation: c.servedGeneration,
		ConfigHash: c.liveHash, Message: reload.RecoveredMessage}
	c.mu.Unlock()
	if excluded {
		ev.Message += "; what nginx -t refused is left out (finding " + model.ReasonNginxRejected + ")"
	}
	c.log.Info("configuration wanted is the live one again after failed reloads", "generation", ev.Generation,
		"config_hash", short(ev.ConfigHash), "excluded", excluded)
	c.opts.Recorder.Record(ev)
}

func (c *Controller) notifyLive(snap *snapshot.Snapshot, cfg *model.Config) {
	c.mu.Lock()
	c.accepted, c.owners, c.liveConfigMap = cfg.Accepted, cfg.Owners, cfg.ConfigMap
	c.liveConfigMapValues = cfg.ConfigMapValues
	c.liveGlobalAuth = cfg.Global.GlobalAuth
	c.liveCertificates = cfg.Certificates
	c.mu.Unlock()
	if c.opts.Live != nil {
		c.opts.Live(snap, cfg)
	}
}

// apply makes cfg, rendered as out, live and reports whether it is, with
// the text it tried and why it failed. rendererGen is the template version
// out was rendered with.
func (c *Controller) apply(ctx context.Context, out *render.Output, rendererGen uint64, cfg *model.Config, hash string) (bool, []byte, error) {
	start := c.now()
	c.mu.Lock()
	c.generation++
	gen := c.generation
	prevDigests := c.digests
	c.mu.Unlock()

	digests := cfg.ServerDigests()
	ev := reload.Event{
		Time:       start,
		Generation: gen,
		ConfigHash: hash,
		Changes:    reload.Diff(prevDigests, digests),
	}
	conf := out.Render(gen)
	var check []byte
	// Only Portico's own lines use Lua: snippets cannot (the snippet
	// allowlist refuses every Lua directive), so the copy without the Lua
	// module checks everything a user wrote.
	if c.opts.CheckLua != nil {
		check = out.RenderCheck(gen)
	}
	d := dynamicAt(cfg, gen)
	err := c.makeLive(ctx, conf, check, cfg, d)
	if err == nil {
		// Exactly the new data, now that no old worker takes new requests.
		if perr := c.pushDynamic(ctx, d); perr != nil {
			err = fmt.Errorf("configuration live, but pushing balancer data failed: %w", perr)
		}
	}
	ev.Duration = c.now().Sub(start)
	ev.Result, ev.Message = classify(err)

	c.mu.Lock()
	c.failing = ev.Result.Failed()
	switch {
	case err == nil:
		c.liveHash, c.liveGen, c.liveConf, c.digests, c.failedHash = hash, rendererGen, conf, digests, ""
		c.liveCfg = cfg
		c.servedGeneration = gen
	case ev.Result == reload.ResultInvalid:
		// nginx -t will refuse the same bytes again: wait for a change.
		c.failedHash = hash
	}
	c.mu.Unlock()
	if err == nil {
		c.collectFiles(cfg)
	}
	c.opts.Recorder.Record(ev)
	return err == nil, conf, err
}

// makeLive writes conf (with cfg's files) and loads it as generation
// d.Generation; d is cfg's balancer data, pushed alongside the live routes
// while the reload is in flight.
func (c *Controller) makeLive(ctx context.Context, conf, check []byte, cfg *model.Config, d model.Dynamic) error {
	gen := d.Generation
	files := make([]nginx.File, 0, len(cfg.Certificates))
	for _, cert := range cfg.Certificates {
		files = append(files, nginx.File{Path: cert.Path, Content: cert.PEM, Mode: 0o600})
	}
	for _, f := range cfg.AuthFiles {
		files = append(files, nginx.File{Path: f.Path, Content: f.Content, Mode: 0o600, ForWorkers: true})
	}
	c.mu.Lock()
	running := c.liveCfg != nil
	previous := c.pushed
	c.mu.Unlock()
	change := nginx.Change{Conf: conf, Check: check, Files: files, Generation: gen}
	if running {
		// New workers start serving before the reload is verified: they
		// must find their routes already there, and old workers, which may
		// share a route ID with another meaning, must keep theirs: each
		// generation gets its own routes until the reload is done. Only
		// once nginx -t passed: the routes of a config nginx refused never
		// reach nginx.
		change.BeforeReload = func(ctx context.Context) error {
			if err := c.pushDynamic(ctx, d.During(previous)); err != nil {
				return fmt.Errorf("pushing balancer data before the reload: %w", err)
			}
			return nil
		}
	}
	if check != nil {
		// What the copy for nginx -t leaves out, checked apart: the module
		// loads and Portico's Lua code compiles.
		if err := c.opts.CheckLua(ctx); err != nil {
			// Not the objects' fault: retried like a failed write.
			return fmt.Errorf("checking nginx's Lua module and Portico's Lua code: %w", err)
		}
	}
	res, err := c.nginx.ApplyChange(ctx, change)
	if err != nil {
		return err
	}
	if res.Signalled {
		return nil
	}
	c.mu.Lock()
	up := c.nginxUp
	c.mu.Unlock()
	if !up && c.opts.StartNginx != nil {
		if err := c.opts.StartNginx(); err != nil {
			return fmt.Errorf("starting nginx: %w", err)
		}
		c.mu.Lock()
		c.nginxUp = true
		c.mu.Unlock()
	}
	// nginx was not running when the file was swapped in; it reads the new
	// file as it starts, and Verify confirms that.
	return c.nginx.Verify(ctx, gen)
}

// collectFiles removes certificate and htpasswd files the live config no longer names.
func (c *Controller) collectFiles(cfg *model.Config) {
	keep := map[string]bool{cfg.Global.DefaultCertificate: true, c.opts.Model.Global.DefaultCertificate: true}
	for _, cert := range cfg.Certificates {
		keep[cert.Path] = true
	}
	for _, f := range cfg.AuthFiles {
		keep[f.Path] = true
	}
	for _, dir := range []string{c.opts.Model.CertificateDir, c.opts.Model.AuthDir} {
		if dir == "" {
			continue
		}
		if err := c.nginx.CleanupFiles(filepath.Clean(dir), keep); err != nil {
			c.log.Warn("removing unused secret files failed", "dir", dir, "error", err)
		}
	}
}

// classify maps an apply error to a reload result and the message operators see.
func classify(err error) (reload.Result, string) {
	var testErr *nginx.TestError
	var verifyErr *nginx.VerifyError
	var hung *nginx.TestTimeoutError
	switch {
	case err == nil:
		return reload.ResultSuccess, ""
	case errors.Is(err, context.Canceled):
		// Shutdown cut the attempt short; nginx did not time out.
		return reload.ResultFailed, "interrupted by shutdown: " + err.Error()
	case errors.As(err, &testErr):
		return reload.ResultInvalid, testErr.Output
	case errors.As(err, &verifyErr):
		return reload.ResultTimeout, verifyErr.Error()
	case errors.As(err, &hung):
		// The whole chain: it says whether the Lua probe or the
		// configuration's own nginx -t hung.
		return reload.ResultTimeout, err.Error()
	default:
		return reload.ResultFailed, err.Error()
	}
}

func short(hash string) string {
	if len(hash) > 12 {
		return hash[:12]
	}
	return hash
}

// Ready reports nil once a configuration has been verified live.
func (c *Controller) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.liveCfg == nil {
		return errors.New("no configuration verified live yet")
	}
	return nil
}

// Healthy reports nil while the sync loop runs and is not stuck, and nginx's master is alive.
func (c *Controller) Healthy() error {
	c.mu.Lock()
	running, busy, up := c.loopRunning, c.busySince, c.nginxUp
	c.mu.Unlock()
	if !running {
		return errors.New("sync loop is not running")
	}
	if !busy.IsZero() && c.now().Sub(busy) > c.opts.SyncTimeout+30*time.Second {
		return fmt.Errorf("sync stuck for %s", c.now().Sub(busy).Round(time.Second))
	}
	if up && c.opts.NginxAlive != nil && !c.opts.NginxAlive() {
		return errors.New("nginx master process is not running")
	}
	return nil
}

// LiveConfig returns the nginx.conf currently live, or nil before the first.
// It holds file paths, never key material.
func (c *Controller) LiveConfig() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.liveConf
}

// msSince is the time from start to end in milliseconds, for logs.
func msSince(start, end time.Time) float64 {
	return float64(end.Sub(start).Microseconds()) / 1000
}
