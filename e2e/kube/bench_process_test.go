//go:build linux

package kube

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/portico-ingress/portico/e2e/framework"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// Parameters of the whole-process benchmark (docs/benchmarks.md, make bench).
const (
	// processIngresses is the default size; PORTICO_BENCH_PROCESS_INGRESSES
	// overrides it.
	processIngresses = 10000
	// processTries is the default number of timed changes;
	// PORTICO_BENCH_PROCESS_TRIES overrides it.
	processTries = 5
	// processStartTimeout bounds a cold start: at 10,000 Ingresses it takes
	// seconds, on a loaded machine tens of them.
	processStartTimeout = 5 * time.Minute
	// processPoll is the pause between two looks at the controller or
	// nginx while a measurement waits; it bounds the resolution.
	processPoll = 10 * time.Millisecond
	// processRedirect is where the changed Ingress redirects in a try; the
	// try number follows.
	processRedirect = "https://portico.invalid/try-"
)

// TestBenchProcess measures the controller as a whole process at 10,000
// Ingresses (fixture.Synthetic's shape, each with its Service and
// EndpointSlice, every tenth with a TLS Secret), once with the objects in a
// manifests directory and once in the API server:
//
//   - cold start: from starting the process until its first configuration
//     is live (the first successful reload on /debug/reloads, which nginx
//     has confirmed), with the controller's own count (the "first
//     configuration live" log line) and the apply's share;
//   - the controller's peak RSS as a process (VmHWM), sources and caches
//     included, after the changes;
//   - one Ingress changed until served: an annotation
//     (permanent-redirect) of one Ingress gets a new value, by renaming a
//     rewritten file into the directory or by an API update, and nginx is
//     polled over fresh connections until it answers with the new
//     redirect.
//
// It is a measurement, not a test of a goal: it runs only with
// PORTICO_BENCH=1 (make bench) and prints, per source, one line that
// hack/bench/report reads:
//
//	BENCH process-manifests ingresses=10000 first_live_ms=... controller_ms=... apply_ms=... peak_rss_mb=... tries=5 change_median_ms=... change_max_ms=...
func TestBenchProcess(t *testing.T) {
	n := benchSize(t, "PORTICO_BENCH_PROCESS_INGRESSES", processIngresses)
	tries := benchSize(t, "PORTICO_BENCH_PROCESS_TRIES", processTries)
	snap := fixture.Synthetic(n)
	// The changed Ingress: one in the middle without TLS, whose plain HTTP
	// is not redirected to HTTPS first.
	changed := n / 2
	if changed%fixture.SyntheticTLSEvery == 0 {
		changed++
	}
	t.Run("manifests", func(t *testing.T) { benchProcessManifests(t, snap, changed, tries) })
	t.Run("api", func(t *testing.T) { benchProcessAPI(t, snap, changed, tries) })
}

// benchProcessManifests runs the measurements with the objects in a
// manifests directory.
func benchProcessManifests(t *testing.T, snap *snapshot.Snapshot, changed, tries int) {
	dir, staging := t.TempDir(), t.TempDir()
	started := time.Now()
	_, err := fixture.WriteManifests(dir, snap)
	require.NoError(t, err)
	t.Logf("wrote %d Ingresses with their Services, EndpointSlices and Secrets in %s", len(snap.Ingresses), time.Since(started).Round(time.Millisecond))

	ing := snap.Ingresses[changed]
	p := startProcessBench(t, func() *framework.Controller {
		return env.StartController(t, framework.ControllerConfig{Source: []string{"--manifests", dir}, NoWait: true})
	})
	p.changes(t, tries, ing.Spec.Rules[0].Host, func(target string) time.Time {
		// Written beside the directory, then renamed in: the watcher sees
		// one complete file, as an atomic writer gives it.
		next := *snap
		next.Ingresses = slices.Clone(snap.Ingresses)
		c := ing.DeepCopy()
		c.Annotations = map[string]string{"nginx.ingress.kubernetes.io/permanent-redirect": target}
		next.Ingresses[changed] = c
		_, err := fixture.WriteManifests(staging, namespaceOnly(&next, ing.Namespace))
		require.NoError(t, err)
		name := ing.Namespace + ".yaml"
		require.NoError(t, os.Rename(filepath.Join(staging, name), filepath.Join(dir, name)))
		return time.Now()
	})
	p.report(t, "process-manifests", len(snap.Ingresses))
}

// benchProcessAPI runs the measurements with the objects in the API
// server, all in one namespace the controller watches.
func benchProcessAPI(t *testing.T, snap *snapshot.Snapshot, changed, tries int) {
	ns := newNamespace(t)
	ensureIngressClass(t)
	cfg := rest.CopyConfig(env.config)
	cfg.QPS, cfg.Burst = 1000, 1000
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	started := time.Now()
	createSnapshot(t, client, ns, snap)
	t.Logf("created %d Ingresses with their Services, EndpointSlices and Secrets in %s", len(snap.Ingresses), time.Since(started).Round(time.Millisecond))

	name := snap.Ingresses[changed].Name
	p := startProcessBench(t, func() *framework.Controller {
		return startControllerWith(t, controllerOptions{Namespace: ns, NoWait: true}).Controller
	})
	p.changes(t, tries, snap.Ingresses[changed].Spec.Rules[0].Host, func(target string) time.Time {
		ctx, cancel := apiContext()
		defer cancel()
		ing, err := client.NetworkingV1().Ingresses(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		ing.Annotations = map[string]string{"nginx.ingress.kubernetes.io/permanent-redirect": target}
		_, err = client.NetworkingV1().Ingresses(ns).Update(ctx, ing, metav1.UpdateOptions{})
		require.NoError(t, err)
		return time.Now()
	})
	p.report(t, "process-api", len(snap.Ingresses))
}

// processBench holds one source's figures.
type processBench struct {
	c *framework.Controller
	// firstLive is from the start until the first successful reload.
	firstLive time.Duration
	// controllerMS is the controller's own count of the same, from the
	// start of its main function ("first configuration live").
	controllerMS float64
	// applyMS is the first reload's nginx -t, nginx start and verification.
	applyMS float64
	// served are the tries' times from the change until served, sorted.
	served []time.Duration
}

// startProcessBench starts a controller with start (which must not wait
// for readiness) and measures its cold start.
func startProcessBench(t *testing.T, start func() *framework.Controller) *processBench {
	t.Helper()
	started := time.Now()
	c := start()
	var first framework.ReloadEvent
	err := framework.Poll(processStartTimeout, processPoll, c.Process, func() error {
		events, err := c.TryReloads()
		if err != nil {
			return err
		}
		for _, ev := range events {
			if ev.Result == "success" {
				first = ev
				return nil
			}
		}
		return errors.New("no successful reload yet")
	})
	require.NoError(t, err, "first configuration live")
	p := &processBench{c: c, firstLive: time.Since(started), applyMS: first.DurationMS}
	p.controllerMS = firstLiveLogged(t, c.Logs.String())
	t.Logf("first configuration live after %s (the controller counts %.0f ms; the apply took %.0f ms)",
		p.firstLive.Round(time.Millisecond), p.controllerMS, p.applyMS)
	return p
}

// changes runs the tries: change gives the changed Ingress a redirect to
// its argument and returns when the change was made; then nginx is polled
// over fresh connections until it answers host with that redirect.
func (p *processBench) changes(t *testing.T, tries int, host string, change func(target string) time.Time) {
	t.Helper()
	client := framework.NewHTTPClient(p.c.HTTPPort, false)
	for i := range tries {
		target := processRedirect + strconv.Itoa(i)
		made := change(target)
		err := framework.Poll(processStartTimeout, processPoll, p.c.Process, func() error {
			r, err := framework.DoGet(client, "http", host, "/")
			if err != nil {
				return err
			}
			if r.Status != http.StatusMovedPermanently || r.Header.Get("Location") != target {
				return fmt.Errorf("%s answers %d, Location %q", host, r.Status, r.Header.Get("Location"))
			}
			return nil
		})
		require.NoError(t, err, "try %d served", i)
		d := time.Since(made)
		p.served = append(p.served, d)
		t.Logf("try %d: served %s after the change", i, d.Round(time.Millisecond))
	}
	slices.Sort(p.served)
}

// report prints the BENCH line of kind, with the controller's peak RSS.
func (p *processBench) report(t *testing.T, kind string, ingresses int) {
	t.Helper()
	rss := peakRSSMB(t, p.c.Process.Cmd.Process.Pid)
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64)
	}
	t.Logf("BENCH %s ingresses=%d first_live_ms=%s controller_ms=%.0f apply_ms=%.0f peak_rss_mb=%.0f tries=%d change_median_ms=%s change_max_ms=%s",
		kind, ingresses, ms(p.firstLive), p.controllerMS, p.applyMS, rss, len(p.served),
		ms(latencyPercentile(p.served, 0.5)), ms(p.served[len(p.served)-1]))
}

// firstLiveLogged returns since_start_ms of the controller's "first
// configuration live" line (JSON logs), or 0 without one.
func firstLiveLogged(t *testing.T, logs string) float64 {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		if !strings.Contains(sc.Text(), "first configuration live") {
			continue
		}
		var line struct {
			Msg          string  `json:"msg"`
			SinceStartMS float64 `json:"since_start_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "first configuration live" {
			return line.SinceStartMS
		}
	}
	t.Log("no \"first configuration live\" line in the controller's logs")
	return 0
}

// peakRSSMB returns a process's peak resident set (VmHWM), in MB.
func peakRSSMB(t *testing.T, pid int) float64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for line := range strings.Lines(string(raw)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			require.NoError(t, err, line)
			return kb * 1024 / 1e6
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// namespaceOnly returns the objects of snap in namespace ns.
func namespaceOnly(snap *snapshot.Snapshot, ns string) *snapshot.Snapshot {
	out := &snapshot.Snapshot{}
	for _, o := range snap.Ingresses {
		if o.Namespace == ns {
			out.Ingresses = append(out.Ingresses, o)
		}
	}
	for _, o := range snap.Services {
		if o.Namespace == ns {
			out.Services = append(out.Services, o)
		}
	}
	for _, o := range snap.EndpointSlices {
		if o.Namespace == ns {
			out.EndpointSlices = append(out.EndpointSlices, o)
		}
	}
	for _, o := range snap.Secrets {
		if o.Namespace == ns {
			out.Secrets = append(out.Secrets, o)
		}
	}
	return out
}

// createSnapshot creates the objects of snap in namespace ns of the API
// server (whatever namespace they name), convergenceWorkers calls at a time.
func createSnapshot(t *testing.T, client kubernetes.Interface, ns string, snap *snapshot.Snapshot) {
	t.Helper()
	var objects []runtime.Object
	for _, o := range snap.Secrets {
		objects = append(objects, o)
	}
	for _, o := range snap.Services {
		objects = append(objects, o)
	}
	for _, o := range snap.EndpointSlices {
		objects = append(objects, o)
	}
	// Ingresses last: the controller, once it runs, finds them complete.
	for _, o := range snap.Ingresses {
		objects = append(objects, o)
	}
	began := time.Now()
	jobs := make(chan runtime.Object)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for range convergenceWorkers {
		wg.Go(func() {
			for o := range jobs {
				if err := createIn(client, ns, o); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for i, o := range objects {
		jobs <- o
		if (i+1)%5000 == 0 {
			t.Logf("%d of %d objects created after %s", i+1, len(objects), time.Since(began).Round(time.Millisecond))
		}
	}
	close(jobs)
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

// createIn creates a copy of o in namespace ns.
func createIn(client kubernetes.Interface, ns string, o runtime.Object) error {
	ctx, cancel := apiContext()
	defer cancel()
	var err error
	switch o := o.DeepCopyObject().(type) {
	case *networkingv1.Ingress:
		o.Namespace = ns
		_, err = client.NetworkingV1().Ingresses(ns).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Service:
		o.Namespace = ns
		// Headless: the controller routes to EndpointSlices and never
		// reads the cluster IP, and allocating 10,000 of them makes the
		// API server several times slower to fill.
		o.Spec.ClusterIP = corev1.ClusterIPNone
		_, err = client.CoreV1().Services(ns).Create(ctx, o, metav1.CreateOptions{})
	case *discoveryv1.EndpointSlice:
		o.Namespace = ns
		_, err = client.DiscoveryV1().EndpointSlices(ns).Create(ctx, o, metav1.CreateOptions{})
	case *corev1.Secret:
		o.Namespace = ns
		_, err = client.CoreV1().Secrets(ns).Create(ctx, o, metav1.CreateOptions{})
	default:
		err = fmt.Errorf("no way to create a %T", o)
	}
	if err != nil {
		return fmt.Errorf("creating %T %s: %w", o, o.(metav1.Object).GetName(), err)
	}
	return nil
}
