package nginx

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // matches ngx.md5 on the Lua side; an integrity check, not security
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// LuaProbe is the outcome of DetectLua.
type LuaProbe struct {
	// Modules are the load_module paths that made the probe pass (none when built in).
	Modules []string
	// Err says why no candidate passed, with nginx's output; nil on success.
	Err error
}

// DetectLua finds out whether nginx can run Portico's Lua balancer: it runs
// nginx -t on a small config that loads the balancer code from luaDir (so
// lua-cjson and lua-resty-core are checked too), once with each candidate
// list of modules to load, and returns the first that passes.
func DetectLua(ctx context.Context, binary, luaDir string, candidates [][]string) LuaProbe {
	dir, err := os.MkdirTemp("", "portico-lua-probe-")
	if err != nil {
		return LuaProbe{Err: fmt.Errorf("probing for the Lua module: %w", err)}
	}
	defer func() { _ = os.RemoveAll(dir) }()
	var failures []string
	for _, modules := range candidates {
		if missing := firstMissing(modules); missing != "" {
			failures = append(failures, fmt.Sprintf("%s does not exist", missing))
			continue
		}
		conf := filepath.Join(dir, "probe.conf")
		if err := os.WriteFile(conf, probeConfig(dir, luaDir, modules), 0o600); err != nil {
			return LuaProbe{Err: fmt.Errorf("probing for the Lua module: %w", err)}
		}
		tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := NewDriver(Options{Binary: binary, Prefix: dir}, nil).Test(tctx, conf)
		cancel()
		if err == nil {
			return LuaProbe{Modules: modules}
		}
		var refused *TestError
		if errors.As(err, &refused) {
			failures = append(failures, refused.Output)
		} else {
			failures = append(failures, err.Error())
		}
	}
	return LuaProbe{Err: fmt.Errorf("nginx cannot run the Lua balancer: %s", strings.Join(failures, "; "))}
}

func firstMissing(paths []string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return p
		}
	}
	return ""
}

// probeConfig is the smallest config that needs everything the balancer uses.
func probeConfig(dir, luaDir string, modules []string) []byte {
	var b bytes.Buffer
	for _, m := range modules {
		fmt.Fprintf(&b, "load_module %q;\n", m)
	}
	fmt.Fprintf(&b, "pid %q;\nerror_log stderr;\nevents {}\nhttp {\n", filepath.Join(dir, "nginx.pid"))
	fmt.Fprintf(&b, "  client_body_temp_path %q;\n  proxy_temp_path %q;\n", dir, dir)
	fmt.Fprintf(&b, "  lua_package_path %q;\n  lua_shared_dict portico 1m;\n", luaDir+"/?.lua;;")
	fmt.Fprintf(&b, "  init_by_lua_file %q;\n", filepath.Join(luaDir, "hooks", "init.lua"))
	fmt.Fprintf(&b, "  upstream probe {\n    server 0.0.0.1:1;\n    balancer_by_lua_file %q;\n  }\n}\n",
		filepath.Join(luaDir, "hooks", "balancer.lua"))
	return b.Bytes()
}

// maxDynamicAnswer bounds what the internal server's answer may be: an md5.
const maxDynamicAnswer = 256

// Dynamic pushes the Lua balancer's data to nginx's internal server, which
// stores it in shared memory for every worker (and keeps it across reloads).
type Dynamic struct {
	url    string
	client *http.Client
	// seed is where a copy of the last push is kept, "" for nowhere.
	seed string
	log  *slog.Logger
}

// SeedFile is where, under the runtime directory (nginx's prefix), the
// controller keeps a copy of the balancer data it pushed last: nginx's
// init_by_lua hook (rootfs/usr/share/portico/lua/hooks/init.lua) loads it
// when it starts with an empty shared dict, so a restarted nginx routes
// from its first request instead of answering 503 until the next push.
const SeedFile = "internal/balancer.json"

// DynamicPath is where nginx's internal server takes the balancer's data.
const DynamicPath = "/portico/dynamic"

// NewDynamic returns a client for the internal server's balancer data at
// url (e.g. http://nginx/portico/dynamic), reached through the unix
// socket when socket is set.
func NewDynamic(url, socket string) *Dynamic {
	return &Dynamic{url: url, client: InternalClient(socket, 10*time.Second)}
}

// KeepSeed makes every successful push also write its data to path
// (mode 0600; endpoints and routes, never key material), after removing
// what an earlier run left there: generation numbers start again with each
// controller, so an old copy could name another config's routes. A failed
// write is logged, not returned: nginx holds the data either way.
func (d *Dynamic) KeepSeed(path string, log *slog.Logger) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the balancer data of an earlier run: %w", err)
	}
	d.seed, d.log = path, log
	return nil
}

// Sum is the md5 the internal server answers for data it holds.
func Sum(body []byte) string {
	sum := md5.Sum(body) //nolint:gosec // see the import
	return hex.EncodeToString(sum[:])
}

// Push stores body in nginx and checks that nginx holds exactly these bytes.
func (d *Dynamic) Push(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("pushing balancer data: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	answer, err := d.do(req)
	if err != nil {
		return err
	}
	if want := Sum(body); answer != want {
		return fmt.Errorf("pushing balancer data: nginx stored md5 %q, sent %q", answer, want)
	}
	if d.seed != "" {
		if _, err := writeFileAtomic(d.seed, body, 0o600, nil); err != nil {
			d.log.Warn("could not keep a copy of the balancer data for a restarted nginx", "path", d.seed, "error", err)
		}
	}
	return nil
}

// Held returns the md5 of the data nginx holds, "" when it holds none (a
// fresh or restarted nginx).
func (d *Dynamic) Held(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return "", fmt.Errorf("reading balancer data: %w", err)
	}
	return d.do(req)
}

func (d *Dynamic) do(req *http.Request) (string, error) {
	resp, err := d.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", req.Method, d.url, err)
	}
	defer func() { _ = resp.Body.Close() }() // fully read below
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDynamicAnswer))
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", req.Method, d.url, err)
	}
	answer := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s %s: status %d: %s", req.Method, d.url, resp.StatusCode, answer)
	}
	if answer != "" && len(answer) != 32 {
		return "", errors.New("unexpected answer from the internal server: " + answer)
	}
	return answer, nil
}
