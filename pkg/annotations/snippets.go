package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// Snippets are raw nginx directives. They are off unless the operator
// allows them for the Ingress's namespace (the model checks that); here
// they are parsed, so a snippet is whole directives with balanced braces
// and is printed back through the quoting boundary, never pasted.
type Snippets struct {
	// Location are configuration-snippet's directives.
	Location []*ngxconf.Directive `json:"location,omitempty"`
	// Server are server-snippet's directives.
	Server []*ngxconf.Directive `json:"server,omitempty"`
}

// directiveName allowlists nginx directive names.
var directiveName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// forbiddenDirectives reach the file system or the process, or only make
// sense in the main context: no snippet may use them.
var forbiddenDirectives = map[string]bool{
	"include": true, "load_module": true, "ssl_engine": true, "env": true, "user": true, "pid": true,
	"daemon": true, "master_process": true, "lua_package_path": true, "lua_package_cpath": true,
	"init_by_lua_block": true, "init_worker_by_lua_block": true, "error_log": true, "access_log": true,
	"root": true, "alias": true, "client_body_temp_path": true, "proxy_temp_path": true,
}

func parseSnippet(v string) ([]*ngxconf.Directive, error) {
	if len(v) > 16384 {
		return nil, errors.New("is longer than 16 KiB")
	}
	dirs, err := ngxconf.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("does not parse as nginx directives: %v", err)
	}
	var bad error
	ngxconf.Walk(dirs, func(_ []string, d *ngxconf.Directive) {
		switch {
		case bad != nil:
		case !directiveName.MatchString(d.Name):
			bad = fmt.Errorf("has a directive name that is not lower-case letters, digits and _: %q", truncate(d.Name))
		case forbiddenDirectives[d.Name] || strings.HasSuffix(d.Name, "_by_lua_file"):
			bad = fmt.Errorf("uses %s, which snippets may not", d.Name)
		}
	})
	if bad != nil {
		return nil, bad
	}
	if len(dirs) == 0 {
		return nil, errors.New("holds no directive")
	}
	return dirs, nil
}

func snippetFields() []Field {
	f := func(key, doc string, apply func(string, *Set) error) Field {
		return Field{Key: key, Group: "snippets", Scope: ScopeLocation, Risk: RiskCritical, Default: "(off)",
			Allowed: "nginx directives; only in namespaces the operator allows (--allow-snippet-annotations, --snippet-namespaces)",
			Doc:     doc, apply: apply}
	}
	return []Field{
		f("configuration-snippet", "directives added to every location of the Ingress", func(v string, s *Set) error {
			dirs, err := parseSnippet(v)
			if err != nil {
				return err
			}
			s.Snippets.Location = dirs
			return nil
		}),
		f("server-snippet", "directives added to the server blocks of the Ingress's hosts", func(v string, s *Set) error {
			dirs, err := parseSnippet(v)
			if err != nil {
				return err
			}
			s.Snippets.Server = dirs
			return nil
		}),
	}
}
