package nginx

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // matches ngx.md5 on the Lua side; an integrity check, not security
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
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
// list of modules to load, and returns the first that passes. opts gives
// the binary and the deadline of each nginx -t. An nginx -t that ran past
// its deadline ends the search: it says nothing about the modules, and
// each further candidate would hang as long. The probe's files go under
// opts.Prefix (the runtime directory) when set: in the Pod the root
// filesystem, /tmp included, is read-only.
func DetectLua(ctx context.Context, opts Options, luaDir string, candidates [][]string) LuaProbe {
	dir, err := os.MkdirTemp(opts.Prefix, "portico-lua-probe-")
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
		err := NewDriver(Options{Binary: opts.Binary, Prefix: dir, TestTimeout: opts.TestTimeout, Logger: opts.Logger}, nil).Test(ctx, conf)
		if err == nil {
			return LuaProbe{Modules: modules}
		}
		var refused *TestError
		if !errors.As(err, &refused) {
			// Not nginx's verdict on the modules: a hung or unstartable
			// nginx, or the caller giving up. Say that, not "no Lua".
			return LuaProbe{Err: fmt.Errorf("probing for the Lua module: %w", err)}
		}
		failures = append(failures, refused.Output)
	}
	return LuaProbe{Err: fmt.Errorf("nginx cannot run the Lua balancer: %s", strings.Join(failures, "; "))}
}

// LuaCheck is the check, before a reload, that nginx can still run the Lua
// balancer with the modules found at start: the nginx -t that tests each
// configuration runs on a copy without the Lua module (much faster), so
// this is what checks that part. It probes only when something the probe
// reads changed since a probe last passed (the nginx binary, the modules,
// Portico's Lua code, by path, size, mtime and inode): an unchanged set
// gives the same answer, and probing again would only double the cost of a
// sync, or its wait when nginx -t hangs for a reason of its own. When
// something changed, the Lua code is installed again first (a runtime
// directory cleaned under nginx's feet) and the probe runs once. Safe for
// concurrent use.
type LuaCheck struct {
	opts    Options
	luaDir  string
	modules []string
	install func() error

	mu sync.Mutex
	// passed is the fingerprint of the files when a probe last passed.
	passed string
	// probes counts the probes run, for tests.
	probes int
}

// NewLuaCheck returns the check of the Lua code in luaDir with modules
// loaded, through nginx opts.Binary, each probe bounded by
// opts.TestTimeout. install, when not nil, installs the Lua code in luaDir.
func NewLuaCheck(opts Options, luaDir string, modules []string, install func() error) *LuaCheck {
	return &LuaCheck{opts: opts.withDefaults(), luaDir: luaDir, modules: modules, install: install}
}

// Passed records that a probe of the files as they are now passed (the one
// at start), so that the first reload does not probe again.
func (l *LuaCheck) Passed() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.passed = l.fingerprint()
}

// Check returns nil when nginx can run the Lua balancer; see LuaCheck.
func (l *LuaCheck) Check(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	fp := l.fingerprint()
	if fp == l.passed {
		return nil
	}
	if l.install != nil {
		if err := l.install(); err != nil {
			return fmt.Errorf("installing the Lua code again: %w", err)
		}
		fp = l.fingerprint()
	}
	l.probes++
	if probe := DetectLua(ctx, l.opts, l.luaDir, [][]string{l.modules}); probe.Err != nil {
		return probe.Err
	}
	l.passed = fp
	return nil
}

// fingerprint describes every file the probe reads by path, size, mtime,
// mode and inode; a file that cannot be read is named as such.
func (l *LuaCheck) fingerprint() string {
	var b strings.Builder
	describe := func(path string) {
		fi, err := os.Stat(path)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", path, err)
			return
		}
		var ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		fmt.Fprintf(&b, "%s %d %d %v %d\n", path, fi.Size(), fi.ModTime().UnixNano(), fi.Mode(), ino)
	}
	if bin, err := exec.LookPath(l.opts.Binary); err == nil {
		describe(bin)
	} else {
		fmt.Fprintf(&b, "%s: %v\n", l.opts.Binary, err)
	}
	for _, m := range l.modules {
		describe(m)
	}
	err := filepath.WalkDir(l.luaDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", path, err)
			return nil // describe the rest; the probe reports what matters
		}
		describe(path)
		return nil
	})
	if err != nil {
		fmt.Fprintf(&b, "%s: %v\n", l.luaDir, err)
	}
	return b.String()
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
