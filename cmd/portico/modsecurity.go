package main

import (
	"log/slog"
	"os"

	"github.com/portico-ingress/portico/pkg/model"
)

// resolveModSecurity clears Global.ModSecurityModule when the module file
// is missing: the model then refuses every Ingress that asks for
// ModSecurity (finding ModSecurityUnavailable, its paths answer 503)
// rather than render a load_module nginx would refuse for everyone.
func resolveModSecurity(opts *model.Options, log *slog.Logger) {
	g := &opts.Global
	if g.ModSecurityModule == "" {
		return
	}
	if _, err := os.Stat(g.ModSecurityModule); err != nil {
		log.Info("no ModSecurity module: Ingresses with enable-modsecurity are not served", "module", g.ModSecurityModule, "err", err)
		g.ModSecurityModule = ""
	}
}
