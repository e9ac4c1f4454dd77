//go:build linux

package local

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/e2e/framework"
)

// The fault suite of issue 12 (docs/reliability.md): each subtest of
// TestFaults starts a fresh controller with real nginx and real backends,
// drives a bounded load through nginx, injects one fault, and measures what
// the clients saw (requests, failures, the longest and the total outage),
// how long recovery took, and what /healthz, /readyz, /metrics and the log
// said meanwhile. Recovery must happen by itself: after the fault the test
// only waits and watches (a fault that is a window, such as SIGSTOP then
// SIGCONT or a full disk then freed, ends with the action that ends it;
// a killed controller is started again as a kubelet would).
//
// Each subtest prints one line
//
//	FAULT name=<subtest> requests=N failed=N outage_ms=N total_failing_ms=N recovery_ms=N bound=<text> result=pass|fail
//
// which hack/reliability/report turns into the table of
// docs/reliability.md. recovery_ms is measured from the end of the fault's
// action (the injection for an instant fault, the SIGCONT or the freeing
// for a window) until requests succeed again and every recovery condition
// of the fault holds; -1 means it did not recover within recoveryCap, or
// that recovery does not apply (the controller was told to stop).

// The load every fault runs under: 4 clients, one request each per 10ms,
// a fresh connection per request (a new client sees what a reload, a
// restart or a refused connection does; keep-alive would hide some of it
// behind Go's retries), each request given up after a second.
const (
	faultClients  = 4
	faultInterval = 10 * time.Millisecond
	// faultRequestTimeout is short so that a hang shows as failures
	// within the window, not as one request that never ends.
	faultRequestTimeout = time.Second
	// faultLoadCap and faultRequestCap bound every load, whatever the
	// fault does: 4 clients at 100 requests/s for at most 45s.
	faultLoadCap    = 45 * time.Second
	faultRequestCap = faultClients * 100 * 45
	// preFault is the load before the fault, to see it serve first.
	preFault = 500 * time.Millisecond
	// stableFor is how long requests and the recovery conditions must
	// hold without a break to count as recovered: longer than the
	// hold-off (200ms) and a reload, so a change the fault made cannot
	// reach nginx after the look.
	stableFor = time.Second
	// settleAfter is the load after recovery, to see it stay recovered.
	settleAfter = 500 * time.Millisecond
	// recoveryCap is how long a subtest waits for recovery before it
	// records "did not recover" (recovery_ms=-1). On main before the fixes
	// of issue 12 some faults never recover; the cap keeps the suite's
	// time bounded.
	recoveryCap = 10 * time.Second
	// statusPoll is the pace of the /healthz and /readyz samples; metrics
	// are sampled every metricsPoll.
	statusPoll  = 20 * time.Millisecond
	metricsPoll = 100 * time.Millisecond
)

// The bounds each fault is held to, as issue 12 expects once its findings
// are fixed. They are chosen for a loaded 2-core machine running this
// suite next to other tests: measured values are far below (the table of
// docs/reliability.md has them), the bounds keep a margin of several
// times.
const (
	// workerKillMaxFailed: a killed worker loses the requests it was
	// serving; with one worker and 4 clients that is at most 4, and the
	// master starts a new worker at once. Twice that for margin.
	workerKillMaxFailed = 8
	// workerKillMaxOutage: the new worker is forked within milliseconds.
	workerKillMaxOutage = 200 * time.Millisecond
	// masterKillMaxOutage: a crashed master is restarted and served
	// (balancer data pushed) within a second.
	masterKillMaxOutage = time.Second
	// crashLoopQuick and crashLoopFirstWait are the supervisor's restart
	// policy (docs/nginx.md): two short runs in a row restart at once,
	// then the wait starts at 250 ms and doubles. In a crash loop each
	// outage may take masterKillMaxOutage plus that wait.
	crashLoopQuick     = 2
	crashLoopFirstWait = 250 * time.Millisecond
	// healthFollows: /readyz and /healthz say the truth about nginx within
	// this long (a few polls of statusPoll, and the controller's own look
	// at nginx).
	healthFollows = 500 * time.Millisecond
	// changeLiveAfter bounds a change made during a window fault (full
	// or read-only config dir, nginx -t hanging) until it is live once the
	// fault ends: the retry of the failed sync, a hold-off and a reload.
	// The retry waits 500ms, doubled after each failure in a row, so
	// after a 2s window the next try comes at most about 2s later.
	changeLiveAfter = 5 * time.Second
	// editSeenAfter bounds an edit until it is served once the manifests
	// are back (directory swap, rewrite storm, garbage files): a sync in
	// flight, the hold-off (at most 1s) and a reload of the grown config;
	// about 2s measured after a storm on 2 busy cores.
	editSeenAfter = 5 * time.Second
	// reloadSuccessBack bounds a reverted change until
	// portico_last_reload_successful is 1 again.
	reloadSuccessBack = 2 * time.Second
	// hangDeadline is the nginx -t deadline of the hang fault
	// (--nginx-test-timeout); the failure must be
	// reported within it plus hangMargin (a hold-off, a poll).
	hangDeadline = 3 * time.Second
	hangMargin   = 2 * time.Second
)

// faultRow is one line of the table.
type faultRow struct {
	name                 string
	requests, failed     int
	outage, totalFailing time.Duration
	recovery             time.Duration // -1: none (see recovery_ms)
	bound, result        string
	detail               string
	violations           []string
}

func (r faultRow) line() string {
	return fmt.Sprintf("FAULT name=%s requests=%d failed=%d outage_ms=%d total_failing_ms=%d recovery_ms=%d bound=%s result=%s",
		r.name, r.requests, r.failed, r.outage.Milliseconds(), r.totalFailing.Milliseconds(), msOrNone(r.recovery), r.bound, r.result)
}

func msOrNone(d time.Duration) int64 {
	if d < 0 {
		return -1
	}
	return d.Milliseconds()
}

// faultSpec is one fault: how to set it up, inject it and judge it.
type faultSpec struct {
	name string
	// bound says in words what the fault is held to.
	bound string
	// maxFailed bounds the failed requests; -1: not bounded by count.
	maxFailed int
	// maxOutage bounds the longest outage; 0 with maxFailed 0 means none.
	maxOutage time.Duration
	// maxRecovery bounds the recovery; 0: only that it recovers.
	maxRecovery time.Duration
	// needsRoot: the fault mounts a tmpfs.
	needsRoot bool
	// setup starts the controller; nil: the default one.
	setup func(t *testing.T, fx *faultRun)
	// inject performs the fault and returns when its action is over.
	inject func(t *testing.T, fx *faultRun)
	// check adds the fault's own verdicts once the load has stopped.
	check func(t *testing.T, fx *faultRun, a framework.Analysis)
}

// faultRun is one subtest's state.
type faultRun struct {
	c     *controller
	b     map[string]*backend
	host  string
	probe framework.Probe
	// files are the manifests written at the start, by name.
	files map[string]string
	// extraArgs are controller flags of this fault.
	extraArgs []string
	// mountConf mounts a small tmpfs on the config dir before the start.
	mountConf bool
	// controllers are every controller process of the run (a killed one
	// and its restart), for their logs.
	controllers []*framework.Controller

	rec      *statusRecorder
	load     *framework.Load
	injected time.Time
	// ended is when the fault's action was over; zero: injected.
	ended time.Time
	// conditions must all hold for the fault to count as recovered.
	conditions []condition
	// notRecoverable: the fault ends the service on purpose (SIGTERM).
	notRecoverable bool
	// samplesFilter drops samples the fault's bound does not count.
	samplesFilter func([]framework.Sample) []framework.Sample
	violations    []string
	notes         []string

	// Fault-specific state.
	reloadsBefore uint64 // reload-fail-revert: the generation before the change
	badSecret     string // tls-secret-mismatch: the Secret with a key that does not match
	template      string // nginx-t-hang: the --template file
	templateText  string // nginx-t-hang: its original text
	fifo          string // nginx-t-hang: the FIFO the template includes
}

// condition is one part of "recovered".
type condition struct {
	name string
	ok   func() bool
}

func (fx *faultRun) violate(format string, args ...any) {
	fx.violations = append(fx.violations, fmt.Sprintf(format, args...))
}

func (fx *faultRun) note(format string, args ...any) {
	fx.notes = append(fx.notes, fmt.Sprintf(format, args...))
}

// when adds a recovery condition.
func (fx *faultRun) when(name string, ok func() bool) {
	fx.conditions = append(fx.conditions, condition{name, ok})
}

const faultHost = "fault.example.com"

// TestFaults runs every fault of issue 12 under load, one subtest each, and
// logs the table at the end. It is not parallel: it measures, and its load
// must neither disturb nor be disturbed by other tests of the package.
func TestFaults(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	var rows []faultRow
	for _, spec := range faultSpecs() {
		t.Run(spec.name, func(t *testing.T) {
			row := runFault(t, spec)
			rows = append(rows, row)
			t.Log(row.line())
			t.Log("FAULT-DETAIL name=" + row.name + " " + row.detail)
			switch row.result {
			case "fail":
				t.Errorf("bound not met (%s): %s", row.bound, strings.Join(row.violations, "; "))
			}
		})
	}
	t.Log("fault suite summary\n" + faultTable(rows))
}

// faultTable formats the rows as a text table.
func faultTable(rows []faultRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %8s %7s %10s %12s %11s  %-8s %s\n", "fault", "requests", "failed", "outage_ms", "failing_ms", "recovery_ms", "result", "bound")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-22s %8d %7d %10d %12d %11d  %-8s %s\n", r.name, r.requests, r.failed, r.outage.Milliseconds(),
			r.totalFailing.Milliseconds(), msOrNone(r.recovery), r.result, r.bound)
	}
	return b.String()
}

// runFault runs one fault and judges it against its bounds; it skips the
// subtest when the fault needs root and the suite does not run as root.
func runFault(t *testing.T, spec faultSpec) faultRow {
	if spec.needsRoot && os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs for the config dir needs root; run the suite as root (make test does)")
	}
	fx := &faultRun{host: faultHost}
	fx.b = startBackends(t, "web", "other")
	fx.files = map[string]string{
		"services.yaml": servicesYAML(fx.b),
		"ingress.yaml":  ingressYAML("fault", faultHost, route{"/", "Prefix", "web"}),
	}
	if spec.setup != nil {
		spec.setup(t, fx)
	}
	fx.start(t)
	if fx.probe == nil {
		fx.probe = framework.HTTPProbe(framework.NewHTTPClient(fx.c.HTTPPort, false), "http", fx.host, "/",
			framework.StatusIs(http.StatusOK, "web"))
	}
	// Served before the fault, and the figures before it.
	fx.waitProbe(t, framework.RouteTimeout)
	fx.rec = startStatusRecorder(fx.c.Controller)
	t.Cleanup(fx.rec.stop)
	logStart := len(fx.c.Logs.String())
	fx.load = framework.StartLoad(framework.LoadConfig{Clients: faultClients, Interval: faultInterval,
		Timeout: faultRequestTimeout, MaxDuration: faultLoadCap, MaxRequests: faultRequestCap}, fx.probe)
	t.Cleanup(func() { fx.load.Stop() })
	time.Sleep(preFault)

	fx.injected = time.Now()
	spec.inject(t, fx)
	if fx.ended.IsZero() {
		fx.ended = fx.injected
	}
	condsAt, recovered := fx.waitRecovered()
	time.Sleep(settleAfter)
	samples := fx.load.Stop()
	fx.rec.stop()
	require.True(t, len(samples) < faultRequestCap, "the load hit its request cap; the window did not cover the fault")
	if fx.samplesFilter != nil {
		samples = fx.samplesFilter(samples)
	}
	a := framework.Analyse(samples)

	// Recovery: requests back and every condition holding, from the end
	// of the fault's action.
	recovery := time.Duration(-1)
	trafficAt, trafficOK := a.RecoveredAt(fx.injected)
	switch {
	case fx.notRecoverable:
	case !recovered || !trafficOK:
		fx.violate("did not recover within %s (%s)", recoveryCap, fx.pendingConditions())
	default:
		at := condsAt
		if trafficAt.After(at) {
			at = trafficAt
		}
		recovery = max(at.Sub(fx.ended), 0)
	}
	if spec.maxFailed >= 0 && a.Failed > spec.maxFailed {
		fx.violate("%d failed requests, bound %d (%s)", a.Failed, spec.maxFailed, a.DetailSummary())
	}
	if spec.maxOutage > 0 && a.Outage >= spec.maxOutage {
		fx.violate("outage %s, bound %s", a.Outage.Round(time.Millisecond), spec.maxOutage)
	}
	if spec.maxRecovery > 0 && recovery > spec.maxRecovery {
		fx.violate("recovery %s, bound %s", recovery.Round(time.Millisecond), spec.maxRecovery)
	}
	if !fx.notRecoverable && !fx.c.Process.Alive() {
		fx.violate("the controller exited: %v", fx.c.Process.Err())
	}
	if spec.check != nil {
		spec.check(t, fx, a)
	}

	row := faultRow{name: spec.name, requests: a.Requests, failed: a.Failed, outage: a.Outage,
		totalFailing: a.TotalFailing, recovery: recovery, bound: spec.bound, violations: fx.violations}
	switch {
	case len(fx.violations) == 0:
		row.result = "pass"
	default:
		row.result = "fail"
	}
	var logs []string
	for i, c := range fx.controllers {
		text := c.Logs.String()
		if i == 0 {
			text = text[logStart:]
		}
		logs = append(logs, summarizeLogs(text))
	}
	row.detail = fmt.Sprintf("failures=[%s] spans=%d readyz=[%s] healthz=[%s] metrics_before=[%s] metrics_after=[%s] logs=[%s] notes=[%s] violations=[%s]",
		a.DetailSummary(), len(a.Spans), fx.rec.codes("/readyz", fx.injected), fx.rec.codes("/healthz", fx.injected),
		fx.rec.metricsAt(fx.injected), fx.rec.metricsAt(time.Now()), strings.Join(logs, " | "),
		strings.Join(fx.notes, "; "), strings.Join(fx.violations, "; "))
	return row
}

// start runs the controller of the fault, with a tmpfs config dir when
// the fault needs one.
func (fx *faultRun) start(t *testing.T) {
	t.Helper()
	root := framework.ControllerDir(t)
	fx.c = &controller{manifests: filepath.Join(root, "manifests")}
	require.NoError(t, os.Mkdir(fx.c.manifests, 0o755))
	for name, content := range fx.files {
		writeAtomic(t, filepath.Join(fx.c.manifests, name), content)
	}
	if fx.mountConf {
		conf := filepath.Join(root, "conf")
		require.NoError(t, os.Mkdir(conf, 0o711))
		mount(t, "-t", "tmpfs", "-o", "size=2m,mode=0711", "tmpfs", conf)
		// Registered before the controller's stop, so it runs after it.
		t.Cleanup(func() {
			if out, err := exec.Command("umount", conf).CombinedOutput(); err != nil {
				_ = exec.Command("umount", "-l", conf).Run()
				t.Logf("umount %s: %v %s (lazily unmounted)", conf, err, out)
			}
		})
	}
	fx.c.Controller = suite.StartController(t, framework.ControllerConfig{
		Source: []string{"--manifests", fx.c.manifests, "--allow-loopback-backends"},
		Args:   fx.extraArgs,
		Dir:    root,
	})
	fx.controllers = append(fx.controllers, fx.c.Controller)
}

// mount runs mount(8); failing to mount fails the test (the suite runs as root here).
func mount(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("mount", args...).CombinedOutput()
	require.NoError(t, err, "mount %s: %s", strings.Join(args, " "), out)
}

// waitProbe waits until the fault's probe succeeds.
func (fx *faultRun) waitProbe(t *testing.T, within time.Duration) {
	t.Helper()
	var last framework.Outcome
	ok := framework.Poll(within, framework.PollInterval, nil, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), faultRequestTimeout)
		defer cancel()
		last = fx.probe(ctx)
		if !last.OK {
			return errors.New(last.Detail)
		}
		return nil
	})
	require.NoError(t, ok, "served before the fault")
}

// waitRecovered waits until requests of the load's kind succeed and every
// condition holds, without a break for stableFor (a change the fault made
// may reach nginx only after a hold-off and a reload, so a look right
// after the fault proves nothing), at most recoveryCap after the fault's
// end; it returns when that last stretch began.
func (fx *faultRun) waitRecovered() (time.Time, bool) {
	deadline := fx.ended.Add(recoveryCap)
	var since time.Time
	for {
		now := time.Now()
		switch {
		case !fx.probeOK() || !fx.conditionsHold():
			since = time.Time{}
		case since.IsZero():
			since = now
		}
		if !since.IsZero() && now.Sub(since) >= stableFor {
			return since, true
		}
		if now.After(deadline) {
			return time.Time{}, false
		}
		time.Sleep(framework.PollInterval)
	}
}

// probeOK sends one request of the load's kind now.
func (fx *faultRun) probeOK() bool {
	if fx.notRecoverable {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), faultRequestTimeout)
	defer cancel()
	return fx.probe(ctx).OK
}

func (fx *faultRun) conditionsHold() bool {
	for _, c := range fx.conditions {
		if !c.ok() {
			return false
		}
	}
	return true
}

func (fx *faultRun) pendingConditions() string {
	var out []string
	if !fx.probeOK() {
		out = append(out, "requests still fail")
	}
	for _, c := range fx.conditions {
		if !c.ok() {
			out = append(out, c.name+" not yet")
		}
	}
	return strings.Join(out, ", ")
}

// healthy adds the conditions that /readyz and /healthz answer 200.
func (fx *faultRun) healthy() {
	fx.when("/readyz 200", func() bool { return fx.statusCode("/readyz") == http.StatusOK })
	fx.when("/healthz 200", func() bool { return fx.statusCode("/healthz") == http.StatusOK })
}

func (fx *faultRun) statusCode(path string) int {
	code, _, err := fx.c.StatusGet(path)
	if err != nil {
		return 0
	}
	return code
}

// served adds the condition that host+path answers 200 from service.
func (fx *faultRun) served(host, path, service string) {
	fx.when(fmt.Sprintf("%s%s from %s", host, path, service), func() bool {
		r, err := fx.c.Request(host, path)
		return err == nil && r.Status == http.StatusOK && r.Served() == service
	})
}

// ---- what the status endpoints said -----------------------------------------

// statusRecorder samples /healthz and /readyz every statusPoll and the
// metrics of nginx's state every metricsPoll, from the status port of a
// controller (a restarted one listens on the same port).
type statusRecorder struct {
	port   int
	client *http.Client
	stopCh chan struct{}
	wg     sync.WaitGroup
	once   sync.Once

	mu      sync.Mutex
	probes  []probeSample
	metrics []metricSample
}

type probeSample struct {
	at   time.Time
	path string
	code int // 0: no answer
	body string
}

type metricSample struct {
	at     time.Time
	values map[string]float64 // absent: not exported
}

// faultMetrics are the metrics the suite follows: the reload outcome and
// the nginx supervisor's view (names agreed in issue 12).
func faultMetrics() []string {
	return []string{"portico_last_reload_successful", "portico_nginx_up", "portico_nginx_restarts_total"}
}

func startStatusRecorder(c *framework.Controller) *statusRecorder {
	r := &statusRecorder{port: c.StatusPort, stopCh: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, DialContext: framework.GuardedDial},
			Timeout: time.Second}}
	r.wg.Add(2)
	go r.loop(statusPoll, func() {
		for _, p := range []string{"/readyz", "/healthz"} {
			code, body := r.get(p)
			r.mu.Lock()
			r.probes = append(r.probes, probeSample{at: time.Now(), path: p, code: code, body: strings.TrimSpace(body)})
			r.mu.Unlock()
		}
	})
	go r.loop(metricsPoll, func() {
		code, body := r.get("/metrics")
		if code != http.StatusOK {
			return
		}
		s := metricSample{at: time.Now(), values: sumMetrics(body, faultMetrics())}
		r.mu.Lock()
		r.metrics = append(r.metrics, s)
		r.mu.Unlock()
	})
	return r
}

func (r *statusRecorder) loop(every time.Duration, f func()) {
	defer r.wg.Done()
	for {
		f()
		select {
		case <-r.stopCh:
			return
		case <-time.After(every):
		}
	}
}

func (r *statusRecorder) get(path string) (int, string) {
	resp, err := r.client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", r.port, path))
	if err != nil {
		return 0, ""
	}
	defer func() { _ = resp.Body.Close() }()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

func (r *statusRecorder) stop() {
	r.once.Do(func() {
		close(r.stopCh)
		r.wg.Wait()
	})
}

// sumMetrics sums the samples of each wanted metric in a Prometheus text
// page; a page it cannot read gives none.
func sumMetrics(body string, names []string) map[string]float64 {
	out := map[string]float64{}
	series, err := framework.ParseMetrics([]byte(body))
	if err != nil {
		return out
	}
	for _, s := range series {
		if slices.Contains(names, s.Name) {
			out[s.Name] += s.Value
		}
	}
	return out
}

// codes counts the answers of path from since on, by status ("200×40,503×3";
// 0 is no answer).
func (r *statusRecorder) codes(path string, since time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	counts := map[int]int{}
	for _, p := range r.probes {
		if p.path == path && !p.at.Before(since) {
			counts[p.code]++
		}
	}
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(counts)) {
		parts = append(parts, fmt.Sprintf("%d×%d", code, counts[code]))
	}
	return strings.Join(parts, ",")
}

// firstCode returns when path first answered code in [from, to].
func (r *statusRecorder) firstCode(path string, code int, from, to time.Time) (time.Time, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.probes {
		if p.path == path && p.code == code && !p.at.Before(from) && !p.at.After(to) {
			return p.at, p.body, true
		}
	}
	return time.Time{}, "", false
}

// metricAt returns the last sampled value of name at or before at.
func (r *statusRecorder) metricAt(name string, at time.Time) (float64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var v float64
	found := false
	for _, m := range r.metrics {
		if m.at.After(at) {
			break
		}
		v, found = m.values[name]
	}
	return v, found
}

// metricSeen reports whether name was sampled with value want in [from, to].
func (r *statusRecorder) metricSeen(name string, want float64, from, to time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.metrics {
		if v, ok := m.values[name]; ok && v == want && !m.at.Before(from) && !m.at.After(to) {
			return true
		}
	}
	return false
}

// metricsAt formats the followed metrics at a moment ("absent" when not exported).
func (r *statusRecorder) metricsAt(at time.Time) string {
	var parts []string
	for _, name := range faultMetrics() {
		if v, ok := r.metricAt(name, at); ok {
			parts = append(parts, fmt.Sprintf("%s=%g", strings.TrimPrefix(name, "portico_"), v))
		} else {
			parts = append(parts, strings.TrimPrefix(name, "portico_")+"=absent")
		}
	}
	return strings.Join(parts, ",")
}

// summarizeLogs counts the warning and error lines of a controller's JSON
// log by message, most frequent first.
func summarizeLogs(text string) string {
	counts := map[string]int{}
	for line := range strings.Lines(text) {
		var rec struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || (rec.Level != "WARN" && rec.Level != "ERROR") {
			continue
		}
		counts[rec.Level+" "+rec.Msg]++
	}
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, counts[k]))
	}
	return strings.Join(parts, ", ")
}

// ---- nginx processes ----------------------------------------------------------

// nginxWorkers lists the live workers of the nginx master pid.
func nginxWorkers(master int) []framework.Proc {
	var out []framework.Proc
	for _, p := range framework.Processes() {
		if p.PPID == master && p.State != "Z" && strings.Contains(p.Cmdline, "worker process") {
			out = append(out, p)
		}
	}
	return out
}

// currentMaster returns the pid in nginx.pid when it names a live nginx
// master of this controller, else 0.
func (fx *faultRun) currentMaster() int {
	pid, err := readPid(filepath.Join(fx.c.RuntimeDir, "nginx.pid"))
	if err != nil {
		return 0
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil || !strings.Contains(string(cmdline), filepath.Join(fx.c.ConfigDir, "nginx.conf")) || !alive(pid) {
		return 0
	}
	return pid
}

// servesNow sends one request of the load's kind through a fresh connection.
func (fx *faultRun) servesNow() bool { return fx.probeOK() }

// ---- the faults -----------------------------------------------------------------

func faultSpecs() []faultSpec {
	return []faultSpec{
		{
			name:      "worker-kill",
			bound:     fmt.Sprintf("failed<=%d, outage<%s, /readyz and /healthz 200 after", workerKillMaxFailed, workerKillMaxOutage),
			maxFailed: workerKillMaxFailed, maxOutage: workerKillMaxOutage,
			inject: func(t *testing.T, fx *faultRun) {
				master := fx.c.nginxMaster(t)
				workers := nginxWorkers(master)
				require.NotEmpty(t, workers, "workers of nginx master %d", master)
				fx.injected = time.Now()
				require.NoError(t, syscall.Kill(workers[0].PID, syscall.SIGKILL))
				fx.healthy()
				fx.when("a new worker", func() bool {
					w := nginxWorkers(master)
					return len(w) > 0 && w[0].PID != workers[0].PID
				})
			},
		},
		{
			name: "master-sigstop",
			bound: fmt.Sprintf("failed=0; /readyz 503 and nginx_up 0 within %s of SIGSTOP, /healthz 503 before the SIGCONT 2s later; both 200 and nginx_up 1 within %s of SIGCONT",
				healthFollows, healthFollows),
			maxFailed: 0, maxRecovery: healthFollows,
			inject: func(t *testing.T, fx *faultRun) {
				master := fx.c.nginxMaster(t)
				t.Cleanup(func() { _ = syscall.Kill(master, syscall.SIGCONT) })
				fx.injected = time.Now()
				require.NoError(t, syscall.Kill(master, syscall.SIGSTOP))
				time.Sleep(2 * time.Second)
				require.NoError(t, syscall.Kill(master, syscall.SIGCONT))
				fx.ended = time.Now()
				fx.healthy()
			},
			check: func(t *testing.T, fx *faultRun, a framework.Analysis) {
				// /readyz follows nginx at once; /healthz may allow the
				// stop as long as a restart would take, but within the 2s.
				for _, p := range []string{"/readyz", "/healthz"} {
					at, body, ok := fx.rec.firstCode(p, http.StatusServiceUnavailable, fx.injected, fx.ended)
					switch {
					case !ok:
						fx.violate("%s never said 503 while the master was stopped (%s)", p, fx.rec.codes(p, fx.injected))
					case p == "/readyz" && at.Sub(fx.injected) > healthFollows:
						fx.violate("%s said 503 only %s after SIGSTOP", p, at.Sub(fx.injected).Round(time.Millisecond))
					default:
						fx.note("%s 503 after %s: %q", p, at.Sub(fx.injected).Round(time.Millisecond), body)
					}
				}
				if !fx.rec.metricSeen("portico_nginx_up", 0, fx.injected, fx.ended) {
					fx.violate("portico_nginx_up never 0 while the master was stopped")
				}
				if v, ok := fx.rec.metricAt("portico_nginx_up", time.Now()); !ok || v != 1 {
					fx.violate("portico_nginx_up not 1 after SIGCONT (%v, exported %v)", v, ok)
				}
			},
		},
		{
			name: "master-kill",
			bound: fmt.Sprintf("outage<%s; /readyz 503 while nginx is down; nginx_restarts_total +1; nginx_up 1 after",
				masterKillMaxOutage),
			maxFailed: -1, maxOutage: masterKillMaxOutage,
			inject: func(t *testing.T, fx *faultRun) {
				master := fx.c.nginxMaster(t)
				fx.injected = time.Now()
				require.NoError(t, syscall.Kill(master, syscall.SIGKILL))
				fx.when("a new nginx master", func() bool { m := fx.currentMaster(); return m != 0 && m != master })
				fx.healthy()
			},
			check: func(t *testing.T, fx *faultRun, a framework.Analysis) {
				checkRestarts(fx, a, 1)
			},
		},
		{
			name: "master-crash-loop",
			bound: fmt.Sprintf("5 master kills, each as soon as nginx serves again: each outage<%s plus the restart wait (none for the first %d, then %s doubling); /readyz 503 while down; nginx_restarts_total +5",
				masterKillMaxOutage, crashLoopQuick, crashLoopFirstWait),
			maxFailed: -1, maxOutage: masterKillMaxOutage + crashLoopWait(4),
			inject: func(t *testing.T, fx *faultRun) {
				var outages []string
				for i := range 5 {
					master := fx.c.nginxMaster(t)
					killed := time.Now()
					if i == 0 {
						fx.injected = killed
					}
					require.NoError(t, syscall.Kill(master, syscall.SIGKILL))
					err := framework.Poll(20*time.Second, 5*time.Millisecond, nil, func() error {
						if m := fx.currentMaster(); m == 0 || m == master || !fx.servesNow() {
							return errors.New("not serving")
						}
						return nil
					})
					outage := time.Since(killed)
					outages = append(outages, outage.Round(time.Millisecond).String())
					if bound := masterKillMaxOutage + crashLoopWait(i); outage >= bound {
						fx.violate("kill %d: served again after %s, bound %s", i+1, outage.Round(time.Millisecond), bound)
					}
					if err != nil {
						fx.note("kill %d: not serving again within 20s", i+1)
						break
					}
				}
				fx.note("served again after each kill: %s", strings.Join(outages, ", "))
				fx.ended = time.Now()
				fx.healthy()
			},
			check: func(t *testing.T, fx *faultRun, a framework.Analysis) {
				checkRestarts(fx, a, 5)
			},
		},
		{
			name:      "config-dir-full",
			bound:     fmt.Sprintf("failed=0 while the config dir is full (2s, with a change pending); the change live within %s of freeing", changeLiveAfter),
			maxFailed: 0, maxRecovery: changeLiveAfter, needsRoot: true,
			setup: func(t *testing.T, fx *faultRun) { fx.mountConf = true },
			inject: func(t *testing.T, fx *faultRun) {
				filler := filepath.Join(fx.c.ConfigDir, "filler")
				fillDisk(t, filler)
				fx.changeDuringWindow(t, func() { require.NoError(t, os.Remove(filler)) })
			},
			check: checkNoTempFiles,
		},
		{
			name:      "config-dir-readonly",
			bound:     fmt.Sprintf("failed=0 while the config dir is read-only (2s, with a change pending); the change live within %s of remounting it rw", changeLiveAfter),
			maxFailed: 0, maxRecovery: changeLiveAfter, needsRoot: true,
			setup: func(t *testing.T, fx *faultRun) { fx.mountConf = true },
			inject: func(t *testing.T, fx *faultRun) {
				conf := fx.c.ConfigDir
				mount(t, "-o", "remount,ro", conf)
				t.Cleanup(func() { _ = exec.Command("mount", "-o", "remount,rw", conf).Run() })
				fx.changeDuringWindow(t, func() { mount(t, "-o", "remount,rw", conf) })
			},
			check: checkNoTempFiles,
		},
		{
			name:      "rewrite-storm",
			bound:     fmt.Sprintf("failed=0 across 200 rewrites 10ms apart; the last version served within %s of the last write", editSeenAfter),
			maxFailed: 0, maxRecovery: editSeenAfter,
			inject: func(t *testing.T, fx *faultRun) {
				for k := 1; k <= 200; k++ {
					fx.c.writeManifest(t, "ingress.yaml", growingIngress("fault", faultHost, "web", "other", k))
					time.Sleep(10 * time.Millisecond)
				}
				fx.ended = time.Now()
				fx.served(faultHost, "/p200", "other")
				fx.healthy()
			},
		},
		{
			name:      "garbage-yaml",
			bound:     fmt.Sprintf("failed=0 with garbage files added and a good file overwritten with garbage; a good change still served within %s", editSeenAfter),
			maxFailed: 0, maxRecovery: editSeenAfter,
			inject: func(t *testing.T, fx *faultRun) {
				for name, content := range garbageFiles() {
					fx.c.writeManifest(t, name, content)
				}
				// A good file overwritten with garbage: its last good version keeps serving.
				fx.c.writeManifest(t, "ingress.yaml", "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: fault\nspec: [}\n")
				time.Sleep(time.Second)
				fx.c.writeManifest(t, "after.yaml", ingressYAML("after", "after."+faultHost, route{"/", "Prefix", "other"}))
				fx.ended = time.Now()
				fx.served("after."+faultHost, "/", "other")
				fx.healthy()
			},
		},
		{
			name:      "manifests-dir-swap",
			bound:     fmt.Sprintf("failed=0 while the manifests directory is deleted and recreated (200ms apart); an edit after it served within %s", editSeenAfter),
			maxFailed: 0, maxRecovery: editSeenAfter,
			inject: func(t *testing.T, fx *faultRun) {
				require.NoError(t, os.RemoveAll(fx.c.manifests))
				time.Sleep(200 * time.Millisecond)
				require.NoError(t, os.Mkdir(fx.c.manifests, 0o755))
				for name, content := range fx.files {
					fx.c.writeManifest(t, name, content)
				}
				time.Sleep(500 * time.Millisecond)
				fx.c.writeManifest(t, "after.yaml", ingressYAML("after", "after."+faultHost, route{"/", "Prefix", "other"}))
				fx.ended = time.Now()
				fx.served("after."+faultHost, "/", "other")
				fx.healthy()
			},
		},
		{
			name:      "manifest-truncate",
			bound:     "failed=0 while a manifest is truncated to nothing, then one is cut at a document boundary, each rewritten 100ms later in place",
			maxFailed: 0, maxRecovery: editSeenAfter,
			inject: func(t *testing.T, fx *faultRun) {
				ingress := filepath.Join(fx.c.manifests, "ingress.yaml")
				rewriteInPlace(t, ingress, "", fx.files["ingress.yaml"])
				time.Sleep(time.Second)
				services := fx.files["services.yaml"]
				cut := strings.Index(services, "---\n")
				require.Positive(t, cut, "services.yaml has several documents")
				rewriteInPlace(t, filepath.Join(fx.c.manifests, "services.yaml"), services[:cut], services[cut:])
				fx.ended = time.Now()
				fx.healthy()
			},
		},
		{
			name:      "controller-kill",
			bound:     "failed=0: nginx keeps serving while the controller is SIGKILLed and started again (as a kubelet does)",
			maxFailed: 0,
			inject: func(t *testing.T, fx *faultRun) {
				old := fx.c.Controller
				fx.injected = time.Now()
				old.Kill(t)
				fx.c.Controller = suite.StartController(t, framework.ControllerConfig{
					Source:  []string{"--manifests", fx.c.manifests, "--allow-loopback-backends"},
					Args:    fx.extraArgs,
					Restart: old,
					NoWait:  true,
				})
				fx.controllers = append(fx.controllers, fx.c.Controller)
				fx.healthy()
			},
		},
		{
			name:      "controller-term",
			bound:     "0 failed in-flight requests (8 requests of 800ms in flight, and every load request that connected); connections refused (or reset in the listen backlog) once nginx has closed its listeners are not counted",
			maxFailed: 0,
			setup: func(t *testing.T, fx *faultRun) {
				slowSvc := startHandlerBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
					sleepOr(r, 800*time.Millisecond)
					_, _ = w.Write([]byte("slow done"))
				})
				fx.files["slow.yaml"] = slowSvc
				fx.files["ingress.yaml"] = ingressYAML("fault", faultHost, route{"/", "Prefix", "web"}, route{"/slow", "Exact", "slow"})
			},
			inject: func(t *testing.T, fx *faultRun) {
				fx.notRecoverable = true
				client := framework.NewHTTPClient(fx.c.HTTPPort, false)
				results := make(chan string, 8)
				var started sync.WaitGroup
				for range 8 {
					started.Add(1)
					go func() {
						started.Done()
						r, err := framework.DoGet(client, "http", faultHost, "/slow")
						switch {
						case err != nil:
							results <- err.Error()
						case r.Status != http.StatusOK || r.Body != "slow done":
							results <- r.String()
						default:
							results <- ""
						}
					}()
				}
				started.Wait()
				time.Sleep(200 * time.Millisecond) // the slow requests reach the backend
				fx.injected = time.Now()
				fx.c.Stop(t) // SIGTERM, and waits for the controller and its nginx to exit
				fx.ended = time.Now()
				fx.note("controller and nginx gone %s after SIGTERM", fx.ended.Sub(fx.injected).Round(time.Millisecond))
				var lost []string
				for range 8 {
					if r := <-results; r != "" {
						lost = append(lost, r)
					}
				}
				if len(lost) > 0 {
					fx.violate("%d of 8 slow requests in flight lost: %s", len(lost), strings.Join(lost, "; "))
				}
				// Refused connections after nginx closed its listeners are
				// what a Pod leaving its Service looks like, not losses; so
				// is a reset of a connection sent after SIGTERM that was
				// still in the listen backlog when nginx closed it (the
				// kernel completed the handshake, nginx never accepted it;
				// nginx finishes every request it accepted, which the slow
				// requests above check).
				fx.samplesFilter = func(s []framework.Sample) []framework.Sample {
					var out []framework.Sample
					refused := 0
					for _, x := range s {
						unaccepted := !x.Connected || strings.Contains(x.Detail, "connection reset by peer")
						if !x.OK && unaccepted && !x.Start.Before(fx.injected) {
							refused++
							continue
						}
						out = append(out, x)
					}
					fx.note("%d requests refused after SIGTERM (not counted)", refused)
					return out
				}
			},
		},
		{
			name:      "tls-secret-mismatch",
			bound:     "failed=0 over TLS: after a Secret update whose key does not match its certificate, the original certificate keeps being served (finding InvalidSecretKeptLastGood)",
			maxFailed: 0,
			setup: func(t *testing.T, fx *faultRun) {
				fx.host = "tls." + faultHost
				kp := framework.NewKeyPair(t, fx.host)
				other := framework.NewKeyPair(t, fx.host)
				fx.files["secret.yaml"] = secretYAML("fault-tls", kp)
				fx.files["ingress.yaml"] = withTLS(ingressYAML("fault", fx.host, route{"/", "Prefix", "web"}), fx.host, "fault-tls")
				fx.badSecret = secretYAML("fault-tls", framework.KeyPair{CertPEM: kp.CertPEM, KeyPEM: other.KeyPEM})
				fx.probe = tlsPinnedProbe(fx, kp.Leaf)
			},
			inject: func(t *testing.T, fx *faultRun) {
				fx.c.writeManifest(t, "secret.yaml", fx.badSecret)
				// Long enough for the update to be built and, were it
				// applied, served: a hold-off and a reload.
				time.Sleep(2 * time.Second)
				fx.healthy()
			},
			check: func(t *testing.T, fx *faultRun, a framework.Analysis) {
				if !strings.Contains(fx.c.Logs.String(), "InvalidSecretKeptLastGood") {
					fx.violate("no finding InvalidSecretKeptLastGood in the log")
				}
			},
		},
		{
			name:      "reload-fail-revert",
			bound:     fmt.Sprintf("failed=0; a ConfigMap change nginx -t refuses, then reverted: last_reload_successful 1 within %s of the revert, /debug/reloads one entry per outcome (at most 2)", reloadSuccessBack),
			maxFailed: 0, maxRecovery: reloadSuccessBack,
			setup: func(t *testing.T, fx *faultRun) {
				fx.extraArgs = []string{"--configmap", "default/portico"}
				fx.files["configmap.yaml"] = configMapYAML("TLSv1.2 TLSv1.3", "")
			},
			inject: func(t *testing.T, fx *faultRun) {
				before := fx.c.Generation(t)
				fx.c.writeManifest(t, "configmap.yaml", configMapYAML("TLSv1.2 TLSv1.3", "NOSUCHCIPHER"))
				ev := fx.c.WaitReload(t, before)
				fx.note("refused change: %s", ev.Result)
				fx.c.writeManifest(t, "configmap.yaml", fx.files["configmap.yaml"])
				fx.ended = time.Now()
				fx.when("portico_last_reload_successful 1", func() bool {
					v, ok := fx.c.Metric(t, "portico_last_reload_successful", nil)
					return ok && v == 1
				})
				fx.healthy()
				fx.reloadsBefore = before
			},
			check: func(t *testing.T, fx *faultRun, a framework.Analysis) {
				time.Sleep(time.Second) // retries, if any, would add entries now
				var since []string
				for _, ev := range fx.c.Reloads(t) {
					if ev.Generation > fx.reloadsBefore {
						since = append(since, ev.Result)
					}
				}
				fx.note("/debug/reloads since the change: %v", since)
				if len(since) > 2 {
					fx.violate("%d /debug/reloads entries for one refused change and its revert: %v", len(since), since)
				}
			},
		},
		{
			name:      "nginx-t-hang",
			bound:     fmt.Sprintf("failed=0; nginx -t (run by a wrapper script as its child) blocked on a FIFO include: the sync fails within the nginx -t deadline %s (--nginx-test-timeout) + %s, saying what timed out; once the FIFO is a file the change is live within %s", hangDeadline, hangMargin, changeLiveAfter),
			maxFailed: 0, maxRecovery: changeLiveAfter,
			setup: func(t *testing.T, fx *faultRun) {
				root, err := framework.ModuleRoot()
				require.NoError(t, err)
				original, err := os.ReadFile(filepath.Join(root, "templates", "nginx.tmpl"))
				require.NoError(t, err)
				require.Contains(t, string(original), "\nhttp {\n")
				dir := t.TempDir()
				fx.template = filepath.Join(dir, "nginx.tmpl")
				fx.fifo = filepath.Join(dir, "hang.conf")
				fx.templateText = string(original)
				require.NoError(t, os.WriteFile(fx.template, original, 0o644))
				// nginx run through a wrapper, as images often do: for -t
				// the wrapper runs nginx as its child, so killing the
				// wrapper at the deadline leaves nginx holding the output
				// pipe (the second half of finding 6); anything else is
				// exec'd, so the supervisor signals nginx itself.
				wrapper := filepath.Join(dir, "nginx-wrapper")
				script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
  if [ "$a" = -t ]; then %[1]q "$@"; exit $?; fi
done
exec %[1]q "$@"
`, suite.Nginx)
				require.NoError(t, os.WriteFile(wrapper, []byte(script), 0o755))
				fx.extraArgs = []string{"--template", fx.template, "--nginx-test-timeout", hangDeadline.String(), "--nginx-binary", wrapper}
			},
			inject: func(t *testing.T, fx *faultRun) {
				require.NoError(t, syscall.Mkfifo(fx.fifo, 0o644))
				before := fx.c.Generation(t)
				withInclude := strings.Replace(fx.templateText, "\nhttp {\n", "\nhttp {\n    include "+fx.fifo+";\n", 1)
				fx.injected = time.Now()
				writeAtomic(t, fx.template, withInclude)
				var ev framework.ReloadEvent
				err := framework.Poll(hangDeadline+hangMargin, framework.PollInterval, nil, func() error {
					events, err := fx.c.TryReloads()
					if err != nil || len(events) == 0 || events[0].Generation <= before {
						return errors.New("no reload attempt reported yet")
					}
					ev = events[0]
					return nil
				})
				if err != nil {
					fx.violate("no failed attempt reported within %s of the hang: %v", hangDeadline+hangMargin, err)
				} else {
					fx.note("attempt reported after %s: %s: %.200s", time.Since(fx.injected).Round(time.Millisecond), ev.Result, ev.Message)
					if ev.Result == "success" || !strings.Contains(ev.Message, "nginx -t") || strings.Contains(ev.Message, "Lua") {
						fx.violate("the attempt during the hang must fail saying nginx -t timed out, not blame the Lua module: %s: %.200s", ev.Result, ev.Message)
					}
				}
				// The fault ends: a reader blocked on the FIFO gets EOF (a
				// writer opens and closes it), and the include becomes a
				// regular file.
				if f, err := os.OpenFile(fx.fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					_ = f.Close()
				}
				plain := fx.fifo + ".tmp"
				require.NoError(t, os.WriteFile(plain, []byte("# was a FIFO\n"), 0o644))
				require.NoError(t, os.Rename(plain, fx.fifo))
				fx.ended = time.Now()
				fx.when("the include is live", func() bool {
					code, body, err := fx.c.StatusGet("/debug/config")
					return err == nil && code == http.StatusOK && strings.Contains(string(body), fx.fifo)
				})
				fx.healthy()
			},
		},
	}
}

// crashLoopWait is the supervisor's wait before restarting nginx after the
// i-th (from 0) of several quick crashes in a row.
func crashLoopWait(i int) time.Duration {
	if i < crashLoopQuick {
		return 0
	}
	return crashLoopFirstWait << (i - crashLoopQuick)
}

// checkRestarts checks what a killed nginx master must show: /readyz 503
// while nginx did not serve, /healthz 200 throughout (a quick restart is
// not a reason to kill the Pod), the restart counted, nginx_up 1 again.
func checkRestarts(fx *faultRun, a framework.Analysis, kills int) {
	if at, body, ok := fx.rec.firstCode("/healthz", http.StatusServiceUnavailable, fx.injected, time.Now()); ok {
		fx.violate("/healthz 503 %s after the kill (%q) although nginx restarted within %s", at.Sub(fx.injected).Round(time.Millisecond), body, masterKillMaxOutage)
	}
	if at, body, ok := fx.rec.firstCode("/readyz", http.StatusServiceUnavailable, fx.injected, fx.ended.Add(recoveryCap)); ok {
		fx.note("/readyz 503 after %s: %q", at.Sub(fx.injected).Round(time.Millisecond), body)
	} else {
		fx.violate("/readyz never said 503 while nginx was down (%s)", fx.rec.codes("/readyz", fx.injected))
	}
	before, okBefore := fx.rec.metricAt("portico_nginx_restarts_total", fx.injected)
	after, okAfter := fx.rec.metricAt("portico_nginx_restarts_total", time.Now())
	switch {
	case !okBefore || !okAfter:
		fx.violate("portico_nginx_restarts_total not exported")
	case after-before != float64(kills):
		fx.violate("portico_nginx_restarts_total went up by %g, want %d", after-before, kills)
	}
	if v, ok := fx.rec.metricAt("portico_nginx_up", time.Now()); !ok || v != 1 {
		fx.violate("portico_nginx_up not 1 after the restart (%g, exported %v)", v, ok)
	}
	for i, s := range a.Spans {
		fx.note("outage %d: %s (%d failed)", i+1, s.Duration().Round(time.Millisecond), s.Failed)
	}
}

// checkNoTempFiles: a failed write leaves no temporary file behind once the
// config dir works again.
func checkNoTempFiles(t *testing.T, fx *faultRun, a framework.Analysis) {
	entries, err := os.ReadDir(fx.c.ConfigDir)
	require.NoError(t, err)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			fx.violate("temporary file %s left in the config dir", e.Name())
		}
	}
}

// changeDuringWindow makes a change while a window fault holds (the config
// dir full or read-only), keeps the fault 2 seconds, ends it with end, and
// waits for the change to go live by itself.
func (fx *faultRun) changeDuringWindow(t *testing.T, end func()) {
	t.Helper()
	fx.c.writeManifest(t, "ingress.yaml", ingressYAML("fault", faultHost, route{"/", "Prefix", "web"}, route{"/after", "Exact", "other"}))
	time.Sleep(2 * time.Second)
	end()
	fx.ended = time.Now()
	fx.served(faultHost, "/after", "other")
	fx.healthy()
}

// fillDisk writes path until the file system is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	chunk := make([]byte, 64<<10)
	for range 1 << 12 { // at most 256MB: the tmpfs is 2MB
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, syscall.ENOSPC, "the config dir fills up")
	require.NoError(t, f.Close())
}

// rewriteInPlace does what a non-atomic writer does: truncate the file and
// write first, then 100ms later the rest.
func rewriteInPlace(t *testing.T, path, first, rest string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	_, err = f.WriteString(first)
	require.NoError(t, err)
	time.Sleep(100 * time.Millisecond)
	_, err = f.WriteString(rest)
	require.NoError(t, errors.Join(err, f.Close()))
}

// garbageFiles are manifests no parser should choke on: binary noise,
// broken YAML, YAML that is no object, objects of the wrong shape, and a
// small alias expansion.
func garbageFiles() map[string]string {
	noise := make([]byte, 4096)
	x := uint32(12)
	for i := range noise {
		x = x*1664525 + 1013904223
		noise[i] = byte(x >> 24)
	}
	return map[string]string{
		"garbage-noise.yaml":   string(noise),
		"garbage-syntax.yaml":  "kind: Ingress\nmetadata: {name: [\n  - : :\n\t\ttabs\n",
		"garbage-scalar.yaml":  "42\n---\n- a\n- b\n---\n\"just a string\"\n",
		"garbage-shape.yaml":   "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: shape}\nspec: 42\n---\napiVersion: v1\nkind: Service\nmetadata: 7\n",
		"garbage-aliases.yaml": "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
		"garbage-empty.yaml":   "",
	}
}

// configMapYAML is the options ConfigMap default/portico.
func configMapYAML(protocols, ciphers string) string {
	s := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: portico, namespace: default}\ndata:\n  ssl-protocols: " + strconv.Quote(protocols) + "\n"
	if ciphers != "" {
		s += "  ssl-ciphers: " + strconv.Quote(ciphers) + "\n"
	}
	return s
}

// tlsPinnedProbe sends GET / over TLS with a fresh handshake each time and
// accepts only the certificate want, answered by the web backend.
func tlsPinnedProbe(fx *faultRun, want *x509.Certificate) framework.Probe {
	var mu sync.Mutex
	var client *http.Client
	return func(ctx context.Context) framework.Outcome {
		mu.Lock()
		if client == nil {
			client = framework.NewHTTPClient(fx.c.HTTPSPort, false)
			client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{
				ServerName:         fx.host,
				InsecureSkipVerify: true, //nolint:gosec // the check below pins the exact certificate
				VerifyConnection: func(cs tls.ConnectionState) error {
					if len(cs.PeerCertificates) == 0 || !cs.PeerCertificates[0].Equal(want) {
						name := ""
						if len(cs.PeerCertificates) > 0 {
							name = cs.PeerCertificates[0].Subject.CommonName
						}
						return fmt.Errorf("served certificate %q, not the original", name)
					}
					return nil
				},
			}
		}
		c := client
		mu.Unlock()
		return framework.HTTPProbe(c, "https", fx.host, "/", framework.StatusIs(http.StatusOK, "web"))(ctx)
	}
}
