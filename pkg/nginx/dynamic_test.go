package nginx

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/rootfs"
)

// luaEnv is a real nginx running Portico's Lua balancer with a hand-written
// config: one location routed by "r1", one by a route no document has, and
// the internal server on a unix socket. It tests the balancer's data path
// (the push, its checks, the workers reading it) apart from the model.
type luaEnv struct {
	*testEnv
	dyn     *Dynamic
	backend string // ip:port of the loopback backend, which answers "backend"
	client  *http.Client
}

func newLuaEnv(tb testing.TB) *luaEnv {
	tb.Helper()
	for _, m := range model.DebianLuaModules() {
		if _, err := os.Stat(m); err != nil {
			if os.Getenv("PORTICO_REQUIRE_NGINX") != "" {
				tb.Fatalf("nginx's Lua module is missing (%s); run hack/install-deps.sh", m)
			}
			tb.Skipf("nginx's Lua module is missing (%s)", m)
		}
	}
	e := newEnvWith(tb, 10*time.Second, nil)
	// Workers (nobody, when tests run as root) read the Lua files.
	for _, d := range []string{filepath.Dir(e.dir), e.dir} {
		require.NoError(tb, os.Chmod(d, 0o755))
	}
	require.NoError(tb, rootfs.InstallLua(filepath.Join(e.dir, "lua")))
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "backend")
	}))
	tb.Cleanup(backend.Close)
	le := &luaEnv{
		testEnv: e,
		dyn:     NewDynamic("http://nginx"+DynamicPath, e.opts.Socket),
		backend: strings.TrimPrefix(backend.URL, "http://"),
		client:  &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second},
	}
	ctx := context.Background()
	_, err := e.drv.Apply(ctx, le.conf(), nil, 1)
	require.NoError(tb, err)
	require.NoError(tb, e.sup.Start())
	e.pgid = e.sup.Pid()
	require.NoError(tb, e.drv.Verify(ctx, 1))
	return le
}

func (e *luaEnv) conf() []byte {
	var b strings.Builder
	for _, m := range model.DebianLuaModules() {
		fmt.Fprintf(&b, "load_module %s;\n", m)
	}
	user := ""
	if os.Geteuid() == 0 {
		user = "user nobody nogroup;"
	}
	lua := filepath.Join(e.dir, "lua")
	fmt.Fprintf(&b, `%[1]s
pid %[2]s;
error_log stderr notice;
worker_processes 1;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path %[3]s/body;
    proxy_temp_path %[3]s/proxy;
    fastcgi_temp_path %[3]s/fcgi;
    uwsgi_temp_path %[3]s/uwsgi;
    scgi_temp_path %[3]s/scgi;
    proxy_connect_timeout 200ms;
    lua_package_path "%[4]s/?.lua;;";
    lua_shared_dict portico 16m;
    init_by_lua_file %[4]s/hooks/init.lua;
    map $host $portico_generation { default "1"; }
    map $host $portico_unavailable { default "127.0.0.2:%[5]d"; }
    upstream portico_balancer {
        server 0.0.0.1:1;
        balancer_by_lua_file %[4]s/hooks/balancer.lua;
    }
    server {
        listen unix:%[6]s;
        location = /portico/generation { return 200 "1"; }
        location = /portico/dynamic {
            client_max_body_size 64m;
            client_body_buffer_size 64m;
            content_by_lua_file %[4]s/hooks/configure.lua;
        }
    }
    server {
        listen 127.0.0.2:%[5]d;
        location / { return 503; }
    }
    server {
        listen 127.0.0.1:%[5]d;
        location = /routed { set $portico_route "r1"; proxy_pass http://portico_balancer; }
        location = /unrouted { set $portico_route "no-such-route"; proxy_pass http://portico_balancer; }
    }
}
`, user, e.opts.PIDFile, e.dir, lua, e.port, e.opts.Socket)
	return []byte(b.String())
}

// get returns the status and body of a request to path through nginx.
func (e *luaEnv) get(tb testing.TB, path string) (int, string) {
	tb.Helper()
	resp, err := e.client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", e.port, path))
	require.NoError(tb, err)
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, string(body)
}

// goodDocument routes r1 to the loopback backend.
func (e *luaEnv) goodDocument() []byte {
	return fmt.Appendf(nil, `{"backends":{"ns.app.80":[%q]},"routes":{"r1":{"backend":"ns.app.80"}},"generation":"1"}`, e.backend)
}

// badDocuments are pushes the internal server must refuse whole; each
// would otherwise have broken or changed routing.
var badDocuments = map[string]string{
	"empty":                   ``,
	"not JSON":                `{"backends":`,
	"not an object":           `[1,2]`,
	"no generation":           `{"backends":{},"routes":{}}`,
	"generation not a string": `{"backends":{},"routes":{},"generation":7}`,
	"no backends":             `{"routes":{},"generation":"1"}`,
	"backends a list":         `{"backends":["10.0.0.1:80"],"routes":{},"generation":"1"}`,
	"pool not a list":         `{"backends":{"p":"10.0.0.1:80"},"routes":{},"generation":"1"}`,
	"endpoint without port":   `{"backends":{"p":["10.0.0.1"]},"routes":{},"generation":"1"}`,
	"endpoint a name":         `{"backends":{"p":["localhost:80"]},"routes":{},"generation":"1"}`,
	"endpoint port too big":   `{"backends":{"p":["10.0.0.1:70000"]},"routes":{},"generation":"1"}`,
	"endpoint octet too big":  `{"backends":{"p":["10.0.0.256:80"]},"routes":{},"generation":"1"}`,
	"endpoint a number":       `{"backends":{"p":[80]},"routes":{},"generation":"1"}`,
	"pool name with space":    `{"backends":{"p q":[]},"routes":{},"generation":"1"}`,
	"route to missing pool":   `{"backends":{},"routes":{"r1":{"backend":"gone"}},"generation":"1"}`,
	"route without backend":   `{"backends":{"p":[]},"routes":{"r1":{}},"generation":"1"}`,
	"route not an object":     `{"backends":{"p":[]},"routes":{"r1":"p"},"generation":"1"}`,
	"unknown route field":     `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","weight":3}},"generation":"1"}`,
	"unknown balance":         `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","balance":"random"}},"generation":"1"}`,
	"hashBy not a variable":   `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","hashBy":"os.exit()"}},"generation":"1"}`,
	"affinity without name":   `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","affinity":{"mode":"balanced","path":"/"}}},"generation":"1"}`,
	"cookie name with ;":      `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","affinity":{"mode":"balanced","name":"a;b","path":"/"}}},"generation":"1"}`,
	"cookie path with CR":     `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","affinity":{"mode":"balanced","name":"a","path":"/\r\nX: y"}}},"generation":"1"}`,
	"canary to missing pool":  `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"q","source":"a/b","weight":1,"weightTotal":100}}},"generation":"1"}`,
	"canary weight fraction":  `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"p","source":"a/b","weight":0.5,"weightTotal":100}}},"generation":"1"}`,
	"canary weightTotal 0":    `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"p","source":"a/b","weight":1,"weightTotal":0}}},"generation":"1"}`,
	"canary pattern broken":   `{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"p","source":"a/b","weight":1,"weightTotal":100,"header":"x","headerPattern":"(("}}},"generation":"1"}`,
	"previous not an object":  `{"backends":{},"routes":{},"generation":"2","previous":[]}`,
	"previous bad route":      `{"backends":{},"routes":{},"generation":"2","previous":{"generation":"1","routes":{"r1":{"backend":"gone"}}}}`,
	"unknown top field":       `{"backends":{},"routes":{},"generation":"1","lua":"os.execute()"}`,
}

// TestDynamicPushRefusesBadDocuments: every bad document is refused with
// the reason, nginx keeps what it held, and the route in place keeps
// serving (issue 10: a malformed push made every request answer 500).
func TestDynamicPushRefusesBadDocuments(t *testing.T) {
	e := newLuaEnv(t)
	ctx := context.Background()
	good := e.goodDocument()
	require.NoError(t, e.dyn.Push(ctx, good))
	code, body := e.get(t, "/routed")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "backend", body)

	huge := `{"backends":{"p":[` + strings.Repeat(`"10.0.0.1:80",`, 65536) + `"10.0.0.1:80"]},"routes":{},"generation":"1"}`
	cases := map[string]string{"more endpoints than the bound": huge}
	for name, doc := range badDocuments {
		cases[name] = doc
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, e.dyn.Push(ctx, good))
			err := e.dyn.Push(ctx, []byte(doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "status 400", "refused, not failed")
			held, err := e.dyn.Held(ctx)
			require.NoError(t, err)
			assert.Equal(t, Sum(good), held, "nginx still holds the last good document")
			code, body := e.get(t, "/routed")
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "backend", body)
		})
	}
}

// TestDynamicPushAcceptsEveryField: a document with every field the model
// writes passes the checks, so the checks refuse nothing the controller
// sends (the model's own encoding is used, not a hand-written copy).
func TestDynamicPushAcceptsEveryField(t *testing.T) {
	e := newLuaEnv(t)
	route := model.Route{Backend: "ns.app.80", Fallback: "ns.fallback.80", Balance: "ewma", HashBy: "$request_uri$cookie_user",
		Affinity: &model.RouteAffinity{Mode: "persistent", Name: "route", Path: "/app", Domain: "example.com", MaxAge: 9999999999,
			Expires: 60, Secure: true, SameSite: "Lax", ChangeOnFailure: true},
		Canary: &model.RouteCanary{Backend: "ns.canary.80", Source: "ns/canary", Weight: 20, WeightTotal: 100,
			Header: "X-Canary", HeaderValue: "yes", HeaderPattern: `^(a|b)[0-9]+\z`, Cookie: "canary"}}
	d := model.Dynamic{
		Backends:   map[string][]string{"ns.app.80": {e.backend, "[fd00::1]:8080"}, "ns.fallback.80": {}, "ns.canary.80": {"198.18.0.9:80"}},
		Routes:     map[string]model.Route{"r1": route, "r2": {Backend: "ns.app.80", Balance: "least_conn"}},
		Generation: 3,
		Previous:   &model.GenerationRoutes{Generation: 2, Routes: map[string]model.Route{"r1": {Backend: "ns.app.80"}}},
	}
	body, err := json.Marshal(d)
	require.NoError(t, err)
	require.NoError(t, e.dyn.Push(context.Background(), body))
}

// FuzzDynamicPush sends any bytes to the real internal server. A push is
// either refused (400, nginx keeps what it held) or stored; either way the
// workers keep answering (a Lua error would be a 500), and once the good
// document is back, the route serves again.
func FuzzDynamicPush(f *testing.F) {
	e := newLuaEnv(f)
	good := e.goodDocument()
	f.Add(good)
	for _, doc := range badDocuments {
		f.Add([]byte(doc))
	}
	f.Add([]byte(`{"backends":{"p":["198.18.0.1:80"]},"routes":{"no-such-route":{"backend":"p","balance":"ewma"}},"generation":"9"}`))
	ctx := context.Background()
	require.NoError(f, e.dyn.Push(ctx, good))
	f.Fuzz(func(t *testing.T, body []byte) {
		before, err := e.dyn.Held(ctx)
		require.NoError(t, err)
		err = e.dyn.Push(ctx, body)
		held, herr := e.dyn.Held(ctx)
		require.NoError(t, herr)
		if err != nil {
			require.Contains(t, err.Error(), "status 400", "a push is refused or stored, never fails otherwise")
			require.Equal(t, before, held, "a refused push changes nothing")
			return
		}
		require.Equal(t, Sum(body), held)
		// The workers read what was stored: no Lua error (500) whatever it holds.
		code, _ := e.get(t, "/unrouted")
		require.NotEqual(t, http.StatusInternalServerError, code)
		require.NoError(t, e.dyn.Push(ctx, good))
		code, got := e.get(t, "/routed")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "backend", got)
	})
}
