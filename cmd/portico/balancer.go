package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/nginx"
	"github.com/portico-ingress/portico/rootfs"
)

// luaModuleCandidates are the load_module lists tried in order: built in
// (OpenResty-style builds), then Debian's nginx-extras and its older path.
func luaModuleCandidates() [][]string {
	return [][]string{
		nil,
		model.DebianLuaModules(),
		{"/usr/lib/nginx/modules/ndk_http_module.so", "/usr/lib/nginx/modules/ngx_http_lua_module.so"},
	}
}

// resolveBalancer installs the Lua code into Global.LuaDir and settles the
// balancer: with --balancer auto, Lua when nginx -t (ngx.Binary, within
// ngx.TestTimeout) accepts a probe config that loads it, else upstream
// blocks with a warning; with --balancer lua a failing probe is an error.
// It reports the balancer chosen.
func resolveBalancer(ctx context.Context, ngx nginx.Options, flag string, opts *model.Options, log *slog.Logger) (string, error) {
	g := &opts.Global
	if flag == model.BalancerUpstreams {
		g.Balancer = model.BalancerUpstreams
		return g.Balancer, nil
	}
	if err := rootfs.InstallLua(g.LuaDir); err != nil {
		return "", err
	}
	if err := checkWorkersCanEnter(g.LuaDir); err != nil {
		return "", err
	}
	probe := nginx.DetectLua(ctx, ngx, g.LuaDir, luaModuleCandidates())
	if probe.Err == nil {
		g.Balancer, g.LuaModules = model.BalancerLua, probe.Modules
		return g.Balancer, nil
	}
	if flag == model.BalancerLua {
		return "", fmt.Errorf("--balancer lua: %w (install nginx's Lua module and lua-cjson, or use --balancer auto)", probe.Err)
	}
	log.Warn("nginx cannot run the Lua balancer: using an upstream block per Service, so every endpoint change reloads nginx; "+
		"canary, session affinity and ewma are unavailable. Install nginx's Lua module and lua-cjson to fix this",
		"reason", probe.Err)
	g.Balancer, g.LuaModules = model.BalancerUpstreams, nil
	return g.Balancer, nil
}

// checkWorkersCanEnter fails when nginx workers, which run as another user
// when the master runs as root, could not reach dir: they read the Lua code
// (and htpasswd files) at request time, and would answer every request with
// 500 instead.
func checkWorkersCanEnter(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("checking %s: %w", d, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("nginx workers (user nobody) cannot enter %s, which holds %s: make it searchable (chmod o+x %s) or choose another --runtime-dir", d, dir, d)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// luaChecker returns the controller's CheckLua: the start-up probe again, on
// the modules found then, but only once something it reads changed (see
// nginx.LuaCheck); the Lua code is installed again first. The start-up
// probe has just passed on these files.
func luaChecker(ngx nginx.Options, g model.Global) func(ctx context.Context) error {
	check := nginx.NewLuaCheck(ngx, g.LuaDir, g.LuaModules, func() error { return rootfs.InstallLua(g.LuaDir) })
	check.Passed()
	return check.Check
}
