package inspect

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/reload"
	"github.com/portico-ingress/portico/pkg/status"
)

var (
	t0        = time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	testCerts = []status.CertificateView{
		{Namespace: "shop", Secret: "shop-tls", Hosts: []string{"shop.example.com", "www.shop.example.com"}, Issuer: "R11",
			Serial: "3f2a", NotBefore: t0.Add(-24 * time.Hour), NotAfter: t0.Add(30 * 24 * time.Hour), SHA256Fingerprint: "ab:cd"},
		{Namespace: "blog", Secret: "old", Hosts: []string{"blog.example.com"}, Issuer: "R10", Serial: "1",
			NotBefore: t0.Add(-100 * 24 * time.Hour), NotAfter: t0.Add(-5 * time.Hour)},
		{Namespace: "blog", Secret: "broken", Hosts: []string{}, Error: "no CERTIFICATE block"},
	}
	testIngresses = []status.IngressView{
		{Namespace: "shop", Name: "web", Served: true, Paths: []status.PathView{
			{Host: "shop.example.com", Path: "/", Match: "prefix", Service: "shop/web:80", Upstream: "shop.web.80", TLSSecret: "shop/shop-tls"},
			{Host: "shop.example.com", Path: "/", Match: "prefix", Upstream: "shop.web-v2.80", Canary: true},
		}, Findings: []status.FindingView{}},
		{Namespace: "blog", Name: "lost", Served: true, Paths: []status.PathView{
			{Host: "", Path: "/", Match: "prefix", Service: "blog/gone:80", Return: 503},
		}, Findings: []status.FindingView{{Reason: "ServiceNotFound", Severity: "Served", Message: "Service blog/gone not found"}}},
		{Namespace: "blog", Name: "bad\x1b[31m", Paths: []status.PathView{},
			Findings: []status.FindingView{{Reason: "InvalidAnnotation", Severity: "NotServed", Message: "evil\x1b]0;title\x07\nline"}}},
	}
	testReloads = []reload.Event{
		{Time: t0.Add(time.Minute), Result: reload.ResultInvalid, Generation: 12, Duration: 40 * time.Millisecond, Count: 3,
			Message: "nginx: [emerg] unknown directive \"x\"\nnginx: configuration file test failed"},
		{Time: t0, Result: reload.ResultSuccess, Generation: 11, Duration: 350 * time.Millisecond,
			Changes: reload.Changes{Added: []string{"a.example.com", "b.example.com", "c.example.com", "d.example.com"}, Changed: []string{"e.example.com"}}},
	}
	testBalancer = model.Dynamic{
		Backends: map[string][]string{"shop.web.80": {"10.0.0.2:8080", "10.0.0.1:8080"}, "blog.gone.80": {}},
		Routes: map[string]model.Route{"r1": {Backend: "shop.web.80", Canary: &model.RouteCanary{Backend: "blog.gone.80"}},
			"r2": {Backend: "shop.web.80"}},
	}
)

func TestWriteTables(t *testing.T) {
	tests := []struct {
		name  string
		write func(*bytes.Buffer) error
		want  string
	}{
		{"certs", func(b *bytes.Buffer) error { return WriteCertificates(b, Table, testCerts, t0) }, `
NAMESPACE  SECRET    HOSTS                                  ISSUER                       NOT BEFORE            NOT AFTER             EXPIRES         SERIAL
blog       broken    -                                      error: no CERTIFICATE block  -                     -                     -               -
blog       old       blog.example.com                       R10                          2026-08-28T03:00:00Z  2026-12-05T22:00:00Z  EXPIRED 5h ago  1
shop       shop-tls  shop.example.com,www.shop.example.com  R11                          2026-12-05T03:00:00Z  2027-01-05T03:00:00Z  in 30d          3f2a
`},
		{"ingresses", func(b *bytes.Buffer) error { return WriteIngresses(b, Table, testIngresses) }, `
NAMESPACE  INGRESS      HOST              PATH  MATCH   SERVICE       UPSTREAM                 TLS SECRET     FINDINGS
blog       bad\x1b[31m  -                 -     -       -             -                        -              1, not served
blog       lost         *                 /     prefix  blog/gone:80  return 503               -              1 (Served)
shop       web          shop.example.com  /     prefix  shop/web:80   shop.web.80              shop/shop-tls  -
shop       web          shop.example.com  /     prefix  -             shop.web-v2.80 (canary)  -              -

Findings:
  blog/bad\x1b[31m: NotServed InvalidAnnotation: evil\x1b]0;title\a\nline
  blog/lost: Served ServiceNotFound: Service blog/gone not found
`},
		{"reloads", func(b *bytes.Buffer) error { return WriteReloads(b, Table, testReloads) }, `
TIME                  RESULT   GENERATION  DURATION  COUNT  REASON
2026-12-06T03:01:00Z  invalid  12          40ms      3      nginx: [emerg] unknown directive "x"
2026-12-06T03:00:00Z  success  11          350ms     1      added a.example.com,b.example.com,c.example.com and 1 more; changed e.example.com
`},
		{"backends", func(b *bytes.Buffer) error { return WriteBackends(b, Table, Pools(testBalancer)) }, `
POOL          ENDPOINTS  ROUTES  ADDRESSES
blog.gone.80  0          1       -
shop.web.80   2          2       10.0.0.1:8080,10.0.0.2:8080
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tt.write(&b))
			assert.Equal(t, strings.TrimPrefix(tt.want, "\n"), b.String())
			assert.NotContains(t, b.String(), "\x1b", "no escape sequence reaches the terminal")
		})
	}
}

// TestWriteJSON: -o json prints the documented field names, sorted lists,
// and [] rather than null.
func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name  string
		write func(*bytes.Buffer) error
		want  string
	}{
		{"certs", func(b *bytes.Buffer) error { return WriteCertificates(b, JSON, testCerts[:1], t0) },
			`[{"namespace":"shop","secret":"shop-tls","hosts":["shop.example.com","www.shop.example.com"],"subject":"","dns_names":null,
			"issuer":"R11","serial":"3f2a","not_before":"2026-12-05T03:00:00Z","not_after":"2027-01-05T03:00:00Z","sha256_fingerprint":"ab:cd"}]`},
		{"no certs", func(b *bytes.Buffer) error { return WriteCertificates(b, JSON, nil, t0) }, `[]`},
		{"backends", func(b *bytes.Buffer) error { return WriteBackends(b, JSON, Pools(testBalancer)) },
			`[{"name":"blog.gone.80","endpoints":[],"routes":1},{"name":"shop.web.80","endpoints":["10.0.0.1:8080","10.0.0.2:8080"],"routes":2}]`},
		{"ingresses", func(b *bytes.Buffer) error { return WriteIngresses(b, JSON, testIngresses[1:2]) },
			`[{"namespace":"blog","name":"lost","served":true,"paths":[{"host":"","path":"/","match":"prefix","service":"blog/gone:80",
			"upstream":"","return":503}],"findings":[{"reason":"ServiceNotFound","severity":"Served","message":"Service blog/gone not found"}]}]`},
		{"no reloads", func(b *bytes.Buffer) error { return WriteReloads(b, JSON, nil) }, `[]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tt.write(&b))
			assert.JSONEq(t, tt.want, b.String())
		})
	}
}

// serve answers path with code and body, and every other path as net/http
// does for a path nobody registered.
func serve(t *testing.T, routes map[string]func(http.ResponseWriter)) *Client {
	t.Helper()
	mux := http.NewServeMux()
	for p, fn := range routes {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, _ *http.Request) { fn(w) })
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &Client{Base: srv.URL}
}

func TestClientErrors(t *testing.T) {
	c := serve(t, map[string]func(http.ResponseWriter){
		"/debug/balancer": func(w http.ResponseWriter) {
			http.Error(w, "no balancer data pushed: nginx runs without the Lua balancer", http.StatusNotFound)
		},
		"/debug/reloads": func(w http.ResponseWriter) { _, _ = w.Write([]byte("<html>not json")) },
		"/debug/config":  func(w http.ResponseWriter) { http.Error(w, "boom", http.StatusInternalServerError) },
	})
	ctx := context.Background()

	_, err := c.Certificates(ctx)
	require.ErrorIs(t, err, ErrNoView)
	assert.Contains(t, err.Error(), "older than this command")
	assert.Contains(t, err.Error(), "--debug-address")

	_, err = c.Balancer(ctx)
	require.ErrorIs(t, err, ErrNoData)
	assert.Contains(t, err.Error(), "without the Lua balancer")

	_, err = c.Reloads(ctx, 0)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not the JSON")

	_, err = c.Config(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "500")
	assert.Contains(t, err.Error(), "boom")

	// A port nobody listens on: the error names the address and the hint.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	dead := &Client{Base: "http://" + addr, Hint: "is --debug-address set?"}
	_, err = dead.Config(ctx)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNoView))
	assert.Contains(t, err.Error(), "http://"+addr)
	assert.Contains(t, err.Error(), "is --debug-address set?")
}

func TestClientReadsViews(t *testing.T) {
	srv := httptest.NewServer(status.New(status.Options{
		Serve:        status.Debug,
		Config:       func() []byte { return []byte("events {}\n") },
		Reloads:      func() []reload.Event { return testReloads },
		Certificates: func() []status.CertificateView { return testCerts },
		Ingresses:    func() []status.IngressView { return testIngresses },
	}).Handler())
	t.Cleanup(srv.Close)
	c := &Client{Base: srv.URL}
	ctx := context.Background()
	conf, err := c.Config(ctx)
	require.NoError(t, err)
	assert.Equal(t, "events {}\n", string(conf))
	events, err := c.Reloads(ctx, 1)
	require.NoError(t, err)
	require.Len(t, events, 1)
	assert.Equal(t, uint64(12), events[0].Generation)
	assert.Equal(t, 3, events[0].Count)
	list, err := c.Certificates(ctx)
	require.NoError(t, err)
	assert.Equal(t, testCerts, list)
	ings, err := c.Ingresses(ctx)
	require.NoError(t, err)
	assert.Equal(t, testIngresses, ings)
	_, err = c.Balancer(ctx)
	require.ErrorIs(t, err, ErrNoData, "no balancer data: the controller's own 404")
}

const testConf = `http {
    server {
        listen 80 default_server;
        server_name _;
        location / { return 404; }
    }
    # a comment with a brace }
    server {
        server_name "shop.example.com";
        location ~ "^/a{2}" {
            return 200 "}";
        }
        location / { proxy_pass http://x; } # trailing }
    }
    server {
        server_name "~^[^.]+\.wild\.example\.com$";
        location / { return 204; }
    }
}
`

func TestServerBlocks(t *testing.T) {
	tests := []struct {
		host, want string
	}{
		{"shop.example.com", `    server {
        server_name "shop.example.com";
        location ~ "^/a{2}" {
            return 200 "}";
        }
        location / { proxy_pass http://x; } # trailing }
    }
`},
		{"a.wild.example.com", `    server {
        server_name "~^[^.]+\.wild\.example\.com$";
        location / { return 204; }
    }
`},
		{"_", `    server {
        listen 80 default_server;
        server_name _;
        location / { return 404; }
    }
`},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got, err := ServerBlocks([]byte(testConf), tt.host)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
	_, err := ServerBlocks([]byte(testConf), "a.b.wild.example.com")
	require.Error(t, err, "a wildcard matches one label only")
	assert.Contains(t, err.Error(), "no server block")
}

func TestCheckFormat(t *testing.T) {
	assert.NoError(t, CheckFormat(Table))
	assert.NoError(t, CheckFormat(JSON))
	assert.Error(t, CheckFormat("yaml"))
}
