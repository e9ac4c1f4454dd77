package main

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/portico-ingress/portico/pkg/model"
)

// resolveModSecurity clears the ModSecurity paths of opts.Global whose
// files are missing on this host (the module, the base rules, the Core
// Rule Set's setup file and rules): the model then refuses every Ingress
// that needs them (finding ModSecurityUnavailable, its paths answer 503)
// rather than render a load_module or a rules file nginx would refuse for
// everyone, or serve the Ingress without its WAF.
func resolveModSecurity(opts *model.Options, log *slog.Logger) {
	g := &opts.Global
	for _, f := range []struct {
		path *string
		what string
		glob bool
	}{
		{&g.ModSecurityModule, "ModSecurity module", false},
		{&g.ModSecurityConf, "ModSecurity base rules", false},
		{&g.OWASPCRSSetup, "OWASP Core Rule Set setup", false},
		{&g.OWASPCRSRules, "OWASP Core Rule Set rules", true},
	} {
		if *f.path == "" {
			continue
		}
		if err := present(*f.path, f.glob); err != nil {
			log.Info("ModSecurity file missing: Ingresses that need it are not served", "what", f.what, "path", *f.path, "err", err)
			*f.path = ""
		}
	}
}

// present reports why path (a glob when glob is set) names no file, or nil.
func present(path string, glob bool) error {
	if !glob {
		_, err := os.Stat(path)
		return err
	}
	matches, err := filepath.Glob(path)
	if err != nil {
		return err
	}
	if len(matches) == 0 {
		return os.ErrNotExist
	}
	return nil
}
