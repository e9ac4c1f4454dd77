package admission_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/portico-ingress/portico/pkg/admission"
	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// benchServerName is the name the benchmark's client asks for by SNI, as
// the API server asks for the webhook Service's DNS name; the serving
// certificate is made for it.
const benchServerName = "portico-admission.portico.svc"

// benchConcurrency is issue 16's "50 concurrent reviews".
const benchConcurrency = 50

// Kinds of review the benchmark sends, in turn: request i is of kind
// i % numKinds.
const (
	kindNew      = iota // a new Ingress with a host of its own: allowed
	kindUpdate          // an existing Ingress, updated: allowed
	kindConflict        // a new Ingress on an existing one's host and paths: refused
	numKinds
)

// kindName names a kind in metrics and BENCH lines.
func kindName(kind int) string {
	return [...]string{kindNew: "new", kindUpdate: "update", kindConflict: "conflict"}[kind]
}

// BenchmarkReview measures what issue 16 asks of the admission webhook:
// the latency of one review with 1,000 and 10,000 synthetic Ingresses
// present, one at a time and with 50 clients at once, through a real HTTPS
// server (the handler as the controller mounts it, its TLS configuration,
// HTTP/2 with keep-alive as the API server's client uses) with a client
// that trusts only the server's self-signed CA. Each request's latency is
// the client's, from sending the body until the answer is read; the
// sub-benchmarks report p50, p99 and max in ms and log one BENCH line
// each for scripts (hack/bench/report reads the metrics).
//
// Requests take turns among three kinds: a new Ingress with its own host,
// an update of an existing Ingress, and a new Ingress on an existing
// Ingress's host and paths. Every answer is checked (the first two
// allowed, the third refused as a conflict naming the owner), so the
// figures are of real decisions and not of errors.
//
// The prepare sub-benchmark measures what each sync adds: the
// preparation of the new snapshot's index (model.NewReview, which the
// Reviewer runs in the background after SetSnapshot), and a review sent
// right after SetSnapshot, which judges against the previous index
// meanwhile instead of waiting. The other sub-benchmarks are warmed up
// first, as a running controller's webhook is between syncs.
func BenchmarkReview(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("ingresses=%d", n), func(b *testing.B) {
			env := newBenchEnv(b, fixture.Synthetic(n))
			b.Run("prepare", func(b *testing.B) { env.benchPrepare(b) })
			for _, c := range []int{1, benchConcurrency} {
				b.Run(fmt.Sprintf("concurrency=%d", c), func(b *testing.B) { env.benchReviews(b, c) })
			}
		})
	}
}

// benchEnv is one snapshot served by a real HTTPS webhook.
type benchEnv struct {
	snap     *snapshot.Snapshot
	opts     model.Options
	reviewer *admission.Reviewer
	url      string
	client   *http.Client
	// uid makes every request's UID unique within the process, so that a
	// mixed-up answer would show.
	uid atomic.Int64
}

// newBenchEnv starts the webhook for snap; it stops when b ends.
func newBenchEnv(b *testing.B, snap *snapshot.Snapshot) *benchEnv {
	b.Helper()
	certPEM, keyPEM, err := certs.SelfSignedFor([]string{benchServerName}, 24*time.Hour)
	require.NoError(b, err)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(b, err)
	pool := x509.NewCertPool()
	require.True(b, pool.AppendCertsFromPEM(certPEM))

	reviewer := admission.NewReviewer(modelOptions(), admission.Options{})
	reviewer.SetSnapshot(snap)
	// The controller's logger formats a line per review and its metrics
	// observe each one; both are part of a review's cost, so both run
	// here (the log goes nowhere).
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mux := http.NewServeMux()
	mux.Handle(admission.Path, admission.NewHandler(reviewer, log, admission.NewMetrics(prometheus.NewRegistry())))

	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.TLS = admission.ServerOptions{
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &cert, nil },
	}.TLSConfig()
	srv.StartTLS()
	b.Cleanup(srv.Close)

	transport := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, ServerName: benchServerName, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        2 * benchConcurrency,
		MaxIdleConnsPerHost: 2 * benchConcurrency,
		IdleConnTimeout:     90 * time.Second,
	}
	b.Cleanup(transport.CloseIdleConnections)
	// The API server's default webhook timeout is 10 s; a review that
	// takes longer has failed.
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	return &benchEnv{snap: snap, opts: modelOptions(), reviewer: reviewer, url: srv.URL + admission.Path, client: client}
}

// request returns request i, of kind i % numKinds.
func (e *benchEnv) request(b *testing.B, i int) request {
	kind := i % numKinds
	n := len(e.snap.Ingresses)
	// Spread the existing Ingresses the requests touch over the snapshot
	// (7919 is prime to 1,000 and 10,000: requests in a row touch
	// Ingresses far apart).
	existing := e.snap.Ingresses[(i*7919)%n]
	uid := fmt.Sprintf("bench-%d", e.uid.Add(1))
	paths := []any{
		map[string]any{"path": "/", "pathType": "Prefix", "backend": map[string]any{
			"service": map[string]any{"name": existing.Name, "port": map[string]any{"number": 80}}}},
		map[string]any{"path": "/api/v1/status", "pathType": "Exact", "backend": map[string]any{
			"service": map[string]any{"name": existing.Name, "port": map[string]any{"number": 80}}}},
	}
	ingress := func(name, host string, labels map[string]any, tls []any) map[string]any {
		meta := map[string]any{"name": name, "namespace": existing.Namespace}
		if labels != nil {
			meta["labels"] = labels
		}
		spec := map[string]any{
			"ingressClassName": "portico",
			"rules":            []any{map[string]any{"host": host, "http": map[string]any{"paths": paths}}},
		}
		if tls != nil {
			spec["tls"] = tls
		}
		return map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}
	}
	switch kind {
	case kindNew:
		// Its own host, the Service of an existing Ingress in its
		// namespace: nothing to find.
		name := fmt.Sprintf("bench-new-%d", i)
		return request{kind, uid, reviewBody(b, uid, "CREATE", ingress(name, name+".bench.example.com", nil, nil)), ""}
	case kindUpdate:
		// The existing Ingress as written, with a label added (what an
		// update that changes nothing the model reads looks like), and
		// its TLS section when it has one.
		var tls []any
		for _, t := range existing.Spec.TLS {
			tls = append(tls, map[string]any{"hosts": t.Hosts, "secretName": t.SecretName})
		}
		obj := ingress(existing.Name, existing.Spec.Rules[0].Host, map[string]any{"bench": fmt.Sprint(i)}, tls)
		return request{kind, uid, reviewBody(b, uid, "UPDATE", obj), ""}
	default:
		// The same host and paths as the existing Ingress, in its
		// namespace: the older Ingress keeps them, this one is refused.
		name := fmt.Sprintf("bench-dup-%d", i)
		return request{kind, uid, reviewBody(b, uid, "CREATE", ingress(name, existing.Spec.Rules[0].Host, nil, nil)), existing.Name}
	}
}

// request is one prepared review and what its answer must be.
type request struct {
	kind  int
	uid   string
	body  []byte
	owner string // the Ingress a conflict must name ("" for other kinds)
}

// send posts one review and returns its latency and the protocol used; an
// answer that is not the expected decision is an error.
func (e *benchEnv) send(r request) (time.Duration, string, error) {
	req, err := http.NewRequest(http.MethodPost, e.url, bytes.NewReader(r.body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	raw, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	_ = resp.Body.Close() // fully read; nothing left to report
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, "", fmt.Errorf("%s review: status %d: %s", kindName(r.kind), resp.StatusCode, raw)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, "", fmt.Errorf("%s review: answer not an AdmissionReview: %w", kindName(r.kind), err)
	}
	if out.Response == nil || string(out.Response.UID) != r.uid {
		return 0, "", fmt.Errorf("%s review: answer is not for request %s: %s", kindName(r.kind), r.uid, raw)
	}
	switch r.kind {
	case kindNew, kindUpdate:
		if !out.Response.Allowed {
			return 0, "", fmt.Errorf("%s review refused: %s", kindName(r.kind), raw)
		}
	case kindConflict:
		if out.Response.Allowed || out.Response.Result == nil ||
			!strings.Contains(out.Response.Result.Message, model.ReasonConflict) ||
			!strings.Contains(out.Response.Result.Message, r.owner) {
			return 0, "", fmt.Errorf("conflict review not refused as a conflict with %s: %s", r.owner, raw)
		}
	}
	return took, resp.Proto, nil
}

// benchReviews sends b.N reviews from concurrency clients sharing one
// keep-alive client, each taking the next request until b.N are sent.
func (e *benchEnv) benchReviews(b *testing.B, concurrency int) {
	// Warm up: the index of the snapshot, the connection, each kind once.
	for i := range numKinds {
		if _, _, err := e.send(e.request(b, i)); err != nil {
			b.Fatal(err)
		}
	}
	// Bodies are made before the clock starts: encoding them is the API
	// server's work, not the webhook's.
	reqs := make([]request, b.N)
	for i := range reqs {
		reqs[i] = e.request(b, i)
	}
	lat := make([]time.Duration, b.N)
	var (
		next     atomic.Int64
		firstErr error
		errOnce  sync.Once
		proto    atomic.Value
		wg       sync.WaitGroup
	)
	b.ResetTimer()
	for range concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(reqs) {
					return
				}
				took, p, err := e.send(reqs[i])
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					// Stop every client: the figures would not be of
					// real decisions.
					next.Store(int64(len(reqs)))
					return
				}
				lat[i] = took
				proto.Store(p)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	all := summarize(lat)
	b.ReportMetric(all.p50, "p50-ms")
	b.ReportMetric(all.p99, "p99-ms")
	b.ReportMetric(all.max, "max-ms")
	line := fmt.Sprintf("BENCH admission ingresses=%d concurrency=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f reviews=%d proto=%v",
		len(e.snap.Ingresses), concurrency, all.p50, all.p99, all.max, b.N, proto.Load())
	for kind := range numKinds {
		name := kindName(kind)
		var of []time.Duration
		for i := kind; i < len(lat); i += numKinds {
			of = append(of, lat[i])
		}
		if len(of) == 0 {
			continue
		}
		s := summarize(of)
		b.ReportMetric(s.p99, name+"-p99-ms")
		line += fmt.Sprintf(" %s_p50_ms=%.2f %s_p99_ms=%.2f", name, s.p50, name, s.p99)
	}
	b.Log(line)
}

// benchPrepare measures what each new snapshot costs: its preparation,
// timed alone, and a review sent right after SetSnapshot.
func (e *benchEnv) benchPrepare(b *testing.B) {
	if _, _, err := e.send(e.request(b, kindNew)); err != nil {
		b.Fatal(err)
	}
	reqs := make([]request, b.N)
	for i := range reqs {
		reqs[i] = e.request(b, kindNew+i*numKinds)
	}
	prep, after := make([]time.Duration, b.N), make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		// A copy is a new snapshot to the Reviewer (it compares
		// pointers), as each sync's is, with the same objects.
		next := *e.snap
		start := time.Now()
		model.NewReview(&next, e.opts)
		prep[i] = time.Since(start)
		e.reviewer.SetSnapshot(&next)
		took, _, err := e.send(reqs[i])
		if err != nil {
			b.Fatal(err)
		}
		after[i] = took
	}
	b.StopTimer()
	p, a := summarize(prep), summarize(after)
	b.ReportMetric(p.p50, "prepare-p50-ms")
	b.ReportMetric(p.max, "prepare-max-ms")
	b.ReportMetric(a.p99, "after-sync-p99-ms")
	b.Logf("BENCH admission ingresses=%d prepare_ms=%.2f prepare_max_ms=%.2f after_sync_p50_ms=%.2f after_sync_p99_ms=%.2f prepares=%d",
		len(e.snap.Ingresses), p.p50, p.max, a.p50, a.p99, b.N)
}

// latencies are a summary in milliseconds.
type latencies struct{ p50, p99, max float64 }

// summarize returns the nearest-rank percentiles of d.
func summarize(d []time.Duration) latencies {
	s := slices.Clone(d)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := max(int(math.Ceil(p*float64(len(s))))-1, 0)
		return float64(s[i]) / 1e6
	}
	return latencies{p50: rank(0.50), p99: rank(0.99), max: float64(s[len(s)-1]) / 1e6}
}
