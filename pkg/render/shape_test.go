package render_test

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portico-ingress/portico/pkg/annotations"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// Shape is the part of a config user input can influence: which servers
// exist with which names, which locations they hold, and every directive
// name anywhere. Comparing the shape of the rendered text with the shape the
// model intended catches any injected directive or escaped block.
type Shape struct {
	Servers    []string
	Directives []string
}

// ExpectedShape is the shape the model asks for.
func ExpectedShape(cfg *model.Config) Shape {
	var blocks [][]string
	add := func(srv model.Server) {
		b := []string{"server " + strings.Join(append([]string{srv.ServerName}, srv.Aliases...), " ")}
		// server-snippet locations come first, as the template prints them.
		for _, d := range srv.Snippet {
			if d.Name == "location" {
				b = append(b, locationShape(d.Args))
			}
		}
		for _, e := range srv.AuthEndpoints {
			b = append(b, locationShape([]string{"=", e.Path}))
		}
		for _, e := range srv.ErrorLocations {
			b = append(b, locationShape([]string{e.Name}))
		}
		for _, l := range srv.Locations {
			b = append(b, fmt.Sprintf("  location %q %q", l.Modifier, l.Path))
		}
		blocks = append(blocks, b)
	}
	add(cfg.DefaultServer)
	for _, srv := range cfg.Servers {
		add(srv)
	}
	return Shape{Servers: flattenServers(blocks), Directives: allowedDirectives}
}

// allowedDirectives is every directive name the template may print.
var allowedDirectives = []string{
	"access_log", "add_header", "auth_basic", "auth_basic_user_file", "auth_request", "auth_request_set", "error_page", "internal", "proxy_method", "proxy_pass_request_body", "allow", "deny", "geo", "hash", "least_conn", "limit_conn", "limit_conn_zone", "limit_req", "limit_req_zone", "client_body_buffer_size", "client_body_temp_path", "client_max_body_size", "default", "error_log", "events",
	"fastcgi_temp_path", "grpc_pass", "http", "if", "keepalive", "keepalive_requests", "keepalive_timeout", "listen",
	"location", "log_format", "map", "multi_accept", "pid", "proxy_buffer_size", "proxy_buffering", "proxy_buffers", "proxy_busy_buffers_size", "proxy_connect_timeout", "proxy_next_upstream_timeout", "proxy_request_buffering",
	"proxy_http_version", "proxy_next_upstream", "proxy_next_upstream_tries", "proxy_pass",
	"proxy_read_timeout", "proxy_redirect", "proxy_send_timeout", "proxy_set_header", "proxy_temp_path", "proxy_intercept_errors",
	"proxy_ssl_trusted_certificate", "proxy_ssl_certificate", "proxy_ssl_certificate_key", "proxy_ssl_verify", "proxy_ssl_name", "proxy_ssl_server_name",
	"grpc_ssl_trusted_certificate", "grpc_ssl_certificate", "grpc_ssl_certificate_key", "grpc_ssl_verify", "grpc_ssl_name", "grpc_ssl_server_name",
	"resolver", "return", "rewrite", "root", "scgi_temp_path", "sendfile", "server", "server_name",
	"server_names_hash_bucket_size", "server_names_hash_max_size", "map_hash_bucket_size", "map_hash_max_size", "server_tokens", "set",
	"ssl_certificate", "ssl_certificate_key", "ssl_client_certificate", "ssl_verify_client", "ssl_verify_depth", "ssl_ciphers", "ssl_prefer_server_ciphers", "ssl_protocols",
	"ssl_session_cache", "ssl_session_timeout", "stub_status", "tcp_nodelay", "tcp_nopush", "upstream",
	"uwsgi_temp_path", "worker_connections", "worker_processes", "worker_shutdown_timeout", "default_type",
	// The Lua balancer: module loading and the hooks, each naming a file of Portico's own Lua code.
	"load_module", "lua_package_path", "lua_shared_dict", "init_by_lua_file", "init_worker_by_lua_file",
	"rewrite_by_lua_file", "header_filter_by_lua_file", "log_by_lua_file", "balancer_by_lua_file", "content_by_lua_file",
	"modsecurity", "modsecurity_rules_file", "modsecurity_rules", "modsecurity_transaction_id",
	// The auth cache (auth-cache-key): the zone and its use in auth locations.
	"proxy_cache_path", "proxy_cache", "proxy_cache_key", "proxy_cache_valid",
	"set_by_lua_file",
	// The request metrics' settings for the workers' Lua (PORTICO_METRICS),
	// and no warnings for the routes they read.
	"env", "uninitialized_variable_warn",
}

// snippetDirectives are the directives snippets may hold: the snippet
// allowlist, which pkg/annotations checks every snippet against.
var snippetDirectives = annotations.SnippetDirectives()

// RenderedShape reads the shape back from a parsed config. Directive names
// found are reported only when they are outside the allowed list, so the
// comparison fails on any unexpected one.
func RenderedShape(tree []*ngxconf.Directive) Shape {
	var s Shape
	var blocks [][]string
	unexpected := map[string]bool{}
	ngxconf.Walk(tree, func(path []string, d *ngxconf.Directive) {
		inTable := len(path) > 0 && (path[len(path)-1] == "map" || path[len(path)-1] == "geo")
		if !slices.Contains(allowedDirectives, d.Name) && !slices.Contains(snippetDirectives, d.Name) && !inTable {
			unexpected[d.Name] = true
		}
		if d.Name != "server" || len(path) != 1 {
			return
		}
		var names []string
		var locs []string
		shared := false
		for _, c := range d.Block {
			switch c.Name {
			case "server_name":
				names = c.Args
			case "location":
				locs = append(locs, locationShape(c.Args))
				shared = shared || readsRouteMap(c)
			}
		}
		if names == nil {
			return // the internal server has no server_name
		}
		if !shared {
			names = []string{strings.Join(names, " ")}
		}
		// A block hosts share stands for one server per host.
		for _, name := range names {
			blocks = append(blocks, append([]string{"server " + name}, locs...))
		}
	})
	s.Servers = flattenServers(blocks)
	s.Directives = allowedDirectives
	for name := range unexpected {
		s.Directives = append(s.Directives, "UNEXPECTED "+name)
	}
	return s
}

// flattenServers lists the servers' lines ordered by server name: a shared
// block stands where its first host is, the others' blocks where they are.
func flattenServers(blocks [][]string) []string {
	slices.SortStableFunc(blocks, func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	var out []string
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out
}

// readsRouteMap reports whether a location sets its route from a map, as
// the locations of a shared server block do (render/share.go).
func readsRouteMap(loc *ngxconf.Directive) bool {
	return slices.ContainsFunc(loc.Block, func(d *ngxconf.Directive) bool {
		return d.Name == "set" && len(d.Args) == 2 && d.Args[0] == "$portico_route" && strings.HasPrefix(d.Args[1], "$portico_r")
	})
}

// locationShape formats a location's arguments like ExpectedShape does.
func locationShape(args []string) string {
	mod, p := "", ""
	switch len(args) {
	case 1:
		p = args[0]
	case 2:
		mod, p = args[0], args[1]
	default:
		p = fmt.Sprint(args)
	}
	return fmt.Sprintf("  location %q %q", mod, p)
}
