package render_test

import (
	"fmt"
	"slices"
	"strings"

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
	var s Shape
	add := func(srv model.Server) {
		s.Servers = append(s.Servers, "server "+strings.Join(append([]string{srv.ServerName}, srv.Aliases...), " "))
		// server-snippet locations come first, as the template prints them.
		for _, d := range srv.Snippet {
			if d.Name == "location" {
				s.Servers = append(s.Servers, locationShape(d.Args))
			}
		}
		for _, e := range srv.AuthEndpoints {
			s.Servers = append(s.Servers, locationShape([]string{"=", e.Path}))
		}
		for _, e := range srv.ErrorLocations {
			s.Servers = append(s.Servers, locationShape([]string{e.Name}))
		}
		for _, l := range srv.Locations {
			s.Servers = append(s.Servers, fmt.Sprintf("  location %q %q", l.Modifier, l.Path))
		}
	}
	add(cfg.DefaultServer)
	for _, srv := range cfg.Servers {
		add(srv)
	}
	s.Directives = allowedDirectives
	return s
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
	"resolver", "return", "rewrite", "scgi_temp_path", "sendfile", "server", "server_name",
	"server_names_hash_bucket_size", "server_names_hash_max_size", "server_tokens", "set",
	"ssl_certificate", "ssl_certificate_key", "ssl_client_certificate", "ssl_verify_client", "ssl_verify_depth", "ssl_ciphers", "ssl_prefer_server_ciphers", "ssl_protocols",
	"ssl_session_cache", "ssl_session_timeout", "stub_status", "tcp_nodelay", "tcp_nopush", "upstream",
	"uwsgi_temp_path", "worker_connections", "worker_processes", "worker_shutdown_timeout", "default_type",
	// The Lua balancer: module loading and the hooks, each naming a file of Portico's own Lua code.
	"load_module", "uninitialized_variable_warn", "lua_package_path", "lua_shared_dict", "init_by_lua_file", "init_worker_by_lua_file",
	"rewrite_by_lua_file", "header_filter_by_lua_file", "log_by_lua_file", "balancer_by_lua_file", "content_by_lua_file",
}

// RenderedShape reads the shape back from a parsed config. Directive names
// found are reported only when they are outside the allowed list, so the
// comparison fails on any unexpected one.
func RenderedShape(tree []*ngxconf.Directive) Shape {
	var s Shape
	unexpected := map[string]bool{}
	ngxconf.Walk(tree, func(path []string, d *ngxconf.Directive) {
		inTable := len(path) > 0 && (path[len(path)-1] == "map" || path[len(path)-1] == "geo")
		if !slices.Contains(allowedDirectives, d.Name) && !inTable {
			unexpected[d.Name] = true
		}
		if d.Name != "server" || len(path) != 1 {
			return
		}
		name, named := "", false
		var locs []string
		for _, c := range d.Block {
			switch c.Name {
			case "server_name":
				name, named = strings.Join(c.Args, " "), true
			case "location":
				locs = append(locs, locationShape(c.Args))
			}
		}
		if !named {
			return // the internal server has no server_name
		}
		s.Servers = append(s.Servers, "server "+name)
		s.Servers = append(s.Servers, locs...)
	})
	s.Directives = allowedDirectives
	for name := range unexpected {
		s.Directives = append(s.Directives, "UNEXPECTED "+name)
	}
	return s
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
