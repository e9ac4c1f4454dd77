package render_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// The benchmarks below are the "build + render" rows of docs/benchmarks.md
// (make bench). They measure and report; the goals in that document are
// checked by hack/bench/report, never asserted here.

// benchSizes are the cluster sizes of the build + render rows.
var benchSizes = []int{100, 1000, 10000}

// incrementalSize is the cluster size of the incremental row.
const incrementalSize = 10000

// benchOptions are the controller's defaults with the paths a Pod uses. The
// paths only appear in the output; nothing is written.
func benchOptions() model.Options {
	g := model.DefaultGlobal()
	g.DefaultCertificate = "/etc/portico/certs/default.pem"
	g.AccessLog = "off"
	return model.Options{
		ControllerClass: model.DefaultControllerClass,
		IngressClass:    model.DefaultIngressClass,
		CertificateDir:  "/etc/portico/certs",
		AuthDir:         "/etc/portico/auth",
		Global:          g,
	}
}

// buildSynthetic builds the synthetic snapshot once outside the timed loop
// and fails on any finding: a benchmark whose Ingresses are not all served
// (a missing Secret, a rejected path) would measure less work than it says.
func buildSynthetic(b *testing.B, n int, opts model.Options) *model.Config {
	b.Helper()
	cfg, findings := model.Build(fixture.Synthetic(n), opts)
	if len(findings) > 0 {
		b.Fatalf("the synthetic snapshot of %d Ingresses has %d findings, first: %+v", n, len(findings), findings[0])
	}
	if len(cfg.Servers) != n || len(cfg.Certificates) != (n+fixture.SyntheticTLSEvery-1)/fixture.SyntheticTLSEvery {
		b.Fatalf("the synthetic config has %d servers and %d certificates, want %d and %d",
			len(cfg.Servers), len(cfg.Certificates), n, (n+fixture.SyntheticTLSEvery-1)/fixture.SyntheticTLSEvery)
	}
	return cfg
}

// benchSync is the CPU work of one controller sync once the snapshot is
// there, as controller.Sync does it: model build, one Prepare (which renders
// and hashes), and the config with its generation filled in. It returns the
// config and its size.
func benchSync(b *testing.B, r *render.Renderer, snap *snapshot.Snapshot, opts model.Options, gen uint64) (*model.Config, int) {
	b.Helper()
	cfg, _ := model.Build(snap, opts)
	out, err := r.Prepare(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if out.Hash() == "" {
		b.Fatal("empty config hash")
	}
	return cfg, len(out.Render(gen))
}

// BenchmarkBuildRender measures one full sync's CPU work at 100, 1,000 and
// 10,000 Ingresses: everything built and rendered from scratch, as after a
// start or a template change. Each iteration gets a new Renderer (not
// timed), so the per-server cache of the previous iteration cannot serve
// it. Besides time and allocations it reports the config size and the peak
// RSS of the process while the size ran (VmHWM, reset before the size
// starts), which includes the snapshot itself: the controller holds the
// same objects in its informer caches.
func BenchmarkBuildRender(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("ingresses=%d", n), func(b *testing.B) {
			resetPeakRSS(b)
			snap := fixture.Synthetic(n)
			opts := benchOptions()
			buildSynthetic(b, n, opts)
			var size int
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				r, err := render.New("")
				if err != nil {
					b.Fatal(err)
				}
				// An empty unit cache, as at the controller's start (Build
				// makes a new key-pair cache when Options has none).
				opts.Units = model.NewUnitCache()
				b.StartTimer()
				_, size = benchSync(b, r, snap, opts, 2)
			}
			b.ReportMetric(float64(size)/1e6, "MB-config")
			reportPeakRSS(b)
		})
	}
}

// BenchmarkIncremental measures the sync after one Ingress of 10,000 changed
// (a path added): the controller rebuilds from the new snapshot and renders
// again with the same Renderer, whose cache holds the server blocks of the
// previous sync, passing the last accepted Ingresses as it does. Every
// iteration adds a path never seen before, so the changed server is always
// rendered anew.
func BenchmarkIncremental(b *testing.B) { benchIncremental(b, true) }

// BenchmarkIncrementalWholeBuild is BenchmarkIncremental without the unit
// cache: every sync translates all 10,000 Ingresses, as Build does without
// Options.Units. The two together say what the unit build saves.
func BenchmarkIncrementalWholeBuild(b *testing.B) { benchIncremental(b, false) }

func benchIncremental(b *testing.B, units bool) {
	n := incrementalSize
	snap := fixture.Synthetic(n)
	r, err := render.New("")
	if err != nil {
		b.Fatal(err)
	}
	opts := benchOptions()
	// The controller keeps one key-pair cache and one unit cache for its
	// life: an unchanged Secret is not parsed again, an unchanged Ingress
	// not translated again.
	opts.KeyPairs = model.NewKeyPairCache()
	if units {
		opts.Units = model.NewUnitCache()
	}
	buildSynthetic(b, n, opts)
	// The first sync, not timed: the renderer starts warm, as in a running
	// controller.
	cfg, _ := benchSync(b, r, snap, opts, 1)
	opts.LastAccepted = cfg.Accepted

	// The changed Ingress is one in the middle, so that neither end of any
	// sorted list is special.
	gen := uint64(1)
	var size int
	b.ReportAllocs()
	for b.Loop() {
		gen++
		next := withOneChange(snap, gen)
		cfg, size = benchSync(b, r, next, opts, gen)
		opts.LastAccepted = cfg.Accepted
	}
	b.ReportMetric(float64(size)/1e6, "MB-config")
}

// resetPeakRSS frees what earlier sizes left behind and resets the kernel's
// peak RSS counter (VmHWM), so that reportPeakRSS sees this size's peak and
// not that of a larger size run before. Writing 5 to clear_refs does the
// reset (Linux 4.0+); where it is not possible the figure is the process's
// peak so far, which the report marks by the sizes running smallest first.
func resetPeakRSS(b *testing.B) {
	b.Helper()
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Logf("cannot reset the peak RSS (%v); peak-RSS-MB is the process's peak so far", err)
	}
}

// reportPeakRSS reports VmHWM from /proc/self/status as peak-RSS-MB.
func reportPeakRSS(b *testing.B) {
	b.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Logf("no peak RSS: %v", err)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		line := sc.Text()
		var kb int64
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
			return
		}
	}
	b.Logf("no VmHWM line in /proc/self/status")
}

// withOneChange returns snap with its middle Ingress given a new Exact path
// named after gen: a change no earlier sync has seen.
func withOneChange(snap *snapshot.Snapshot, gen uint64) *snapshot.Snapshot {
	changed := len(snap.Ingresses) / 2
	exact := networkingv1.PathTypeExact
	ing := snap.Ingresses[changed].DeepCopy()
	rule := &ing.Spec.Rules[0]
	rule.HTTP.Paths = append(rule.HTTP.Paths, networkingv1.HTTPIngressPath{
		Path: "/bench/" + strconv.FormatUint(gen, 10), PathType: &exact,
		Backend: rule.HTTP.Paths[0].Backend,
	})
	next := *snap
	next.Ingresses = slices.Clone(snap.Ingresses)
	next.Ingresses[changed] = ing
	return &next
}
