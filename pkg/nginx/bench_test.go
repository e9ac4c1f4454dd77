package nginx

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
	"github.com/portico-ingress/portico/rootfs"
)

// BenchmarkApply measures a full Apply (write, nginx -t, rename, SIGHUP,
// verify) of a small configuration against a real nginx, and reports the
// reload part (signal until the new generation is served) and the test part.
func BenchmarkApply(b *testing.B) {
	e := newEnv(b)
	e.start(b)
	ctx := context.Background()
	var gen uint64 = 1
	var reload, test time.Duration
	n := 0
	for b.Loop() {
		gen++
		res, err := e.drv.Apply(ctx, e.conf(gen, ""), nil, gen)
		require.NoError(b, err)
		reload += res.Reload
		test += res.Test
		n++
	}
	b.ReportMetric(float64(reload.Microseconds())/1000/float64(n), "ms/reload")
	b.ReportMetric(float64(test.Microseconds())/1000/float64(n), "ms/test")
}

// syntheticBenchSizes are the sizes of the nginx rows of docs/benchmarks.md.
// make bench runs them one at a time with its own -benchtime each.
var syntheticBenchSizes = []int{100, 1000, 10000}

// BenchmarkSyntheticApply is the "nginx -t" and "reload until verified" rows
// of docs/benchmarks.md: Portico's rendered config for the synthetic cluster
// (fixture.Synthetic: one host, two paths, three endpoints per Ingress, 10%
// with TLS and their certificate files), made live in a real nginx with
// Driver.ApplyChange with a check copy, the way the controller does it. Each iteration is one
// Apply of a new generation of the same objects: nginx -t on the new file,
// then SIGHUP until fresh connections get the new generation (what the
// controller waits for before it reports a reload done). It reports the
// median of the iterations for each part; ns/op is the whole Apply.
func BenchmarkSyntheticApply(b *testing.B) {
	for _, n := range syntheticBenchSizes {
		b.Run(fmt.Sprintf("ingresses=%d", n), func(b *testing.B) {
			e, logs := newQuietEnv(b)
			r, err := render.New("")
			require.NoError(b, err)
			cfg := syntheticConfig(b, e, n)
			files := certificateFiles(cfg)
			ctx := context.Background()

			// Generation 1 while nginx is down, then start it: what the
			// controller does at startup. Not timed.
			conf, err := r.Render(cfg, 1)
			require.NoError(b, err)
			_, err = e.drv.Apply(ctx, conf, files, 1)
			require.NoError(b, err, "%s", logs)
			require.NoError(b, e.sup.Start())
			e.pgid = e.sup.Pid()
			require.NoError(b, e.drv.Verify(ctx, 1), "%s", logs)

			gen := uint64(1)
			var tests, reloads []time.Duration
			for b.Loop() {
				b.StopTimer()
				gen++
				out, err := r.Prepare(cfg)
				require.NoError(b, err)
				conf = out.Render(gen)
				b.StartTimer()
				// As the controller does: nginx -t on the copy without the
				// Lua module (nil with upstream blocks: then conf itself).
				res, err := e.drv.ApplyChange(ctx, Change{Conf: conf, Check: out.RenderCheck(gen), Files: files, Generation: gen})
				require.NoError(b, err, "%s", logs)
				require.True(b, res.Signalled)
				tests = append(tests, res.Test)
				reloads = append(reloads, res.Reload)
			}
			// Which balancer the default config uses decides most of the
			// nginx figures (DESIGN.md); hack/bench/report shows it.
			b.Logf("BENCH nginx ingresses=%d balancer=%s", n, cfg.Global.Balancer)
			b.ReportMetric(float64(len(conf))/1e6, "MB-config")
			b.ReportMetric(medianMS(tests), "ms-test-median")
			b.ReportMetric(medianMS(reloads), "ms-reload-median")
			if s := logs.String(); s != "" {
				b.Logf("nginx and driver warnings:\n%s", s)
			}
		})
	}
}

// syntheticConfig builds the synthetic cluster of n Ingresses with the
// controller's defaults, except that everything nginx listens on or writes
// is this environment's (envOptions).
func syntheticConfig(b *testing.B, e *testEnv, n int) *model.Config {
	b.Helper()
	cfg, findings := model.Build(fixture.Synthetic(n), envOptions(b, e))
	require.Empty(b, findings, "every synthetic Ingress is served as written")
	require.Len(b, cfg.Servers, n)
	return cfg
}

// envOptions are the controller's model options with everything nginx
// listens on or writes in this environment: loopback ports, its directory,
// its pid file, its internal socket. It installs the Lua code and writes
// the default certificate, as the controller does at start.
func envOptions(b *testing.B, e *testEnv) model.Options {
	b.Helper()
	g := model.DefaultGlobal()
	g.BindAddress = "127.0.0.1"
	g.HTTPPort, g.HTTPSPort = freePort(b), freePort(b)
	g.InternalPort = freePort(b)
	g.InternalSocket = e.opts.Socket // where the driver's VerifyURL points
	g.PIDFile = e.opts.PIDFile
	g.RuntimeDir = e.dir
	g.AccessLog = "off"
	g.Resolvers = []string{"127.0.0.1"} // nothing here resolves names
	g.DefaultCertificate = filepath.Join(e.dir, "certs", "default.pem")
	if g.Balancer == model.BalancerLua {
		// The controller installs the Lua code it ships at start; the
		// config loads it at every nginx -t and reload.
		g.LuaDir = filepath.Join(e.dir, "lua")
		// Workers (nobody, when the benchmark runs as root) read the Lua
		// files per request; the test directory and its parent are 0700.
		for _, d := range []string{filepath.Dir(e.dir), e.dir} {
			require.NoError(b, os.Chmod(d, 0o755))
		}
		require.NoError(b, rootfs.InstallLua(g.LuaDir))
	}
	// The controller writes the self-signed fallback itself (it is not a
	// Secret, so not in cfg.Certificates).
	pem, err := certs.SelfSigned(certs.DefaultCommonName, 24*time.Hour)
	require.NoError(b, err)
	_, err = writeFileAtomic(g.DefaultCertificate, pem, 0o600, nil)
	require.NoError(b, err)
	return model.Options{
		ControllerClass: model.DefaultControllerClass,
		IngressClass:    model.DefaultIngressClass,
		CertificateDir:  filepath.Join(e.dir, "certs"),
		AuthDir:         filepath.Join(e.dir, "auth"),
		Global:          g,
	}
}

// certificateFiles are the files Apply writes before nginx -t, as
// controller.makeLive passes them.
func certificateFiles(cfg *model.Config) []File {
	files := make([]File, 0, len(cfg.Certificates))
	for _, c := range cfg.Certificates {
		files = append(files, File{Path: c.Path, Content: c.PEM, Mode: 0o600})
	}
	return files
}

// newQuietEnv is newEnv for benchmarks: nginx's output and the driver's
// logs at warning level and above go to a buffer that the benchmark prints
// after its result line (anything printed during a benchmark would split
// the line make bench parses), and debug logs are dropped.
func newQuietEnv(b *testing.B) (*testEnv, *syncBuffer) {
	b.Helper()
	logs := &syncBuffer{}
	// DESIGN.md measured up to 38 s per reload at 10,000 Services with one
	// upstream block each; the bound only stops a stuck run.
	e := newEnvWith(b, 2*time.Minute,
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))
	return e, logs
}

// syncBuffer is a bytes.Buffer safe for the supervisor's reader goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// medianMS is the median of ds in milliseconds (the upper middle for an
// even count), 0 for none.
func medianMS(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return float64(sorted[len(sorted)/2].Microseconds()) / 1000
}
