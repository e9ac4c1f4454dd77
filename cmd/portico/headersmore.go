package main

import (
	"log/slog"
	"os"

	"github.com/portico-ingress/portico/pkg/model"
)

// resolveHeadersMore clears Global.HeadersMoreModule when the module file
// is missing: the model then refuses every Ingress whose snippet uses the
// more_* directives (finding HeadersMoreUnavailable, its paths answer 503)
// rather than render a load_module nginx would refuse for everyone.
func resolveHeadersMore(opts *model.Options, log *slog.Logger) {
	g := &opts.Global
	if g.HeadersMoreModule == "" {
		return
	}
	if _, err := os.Stat(g.HeadersMoreModule); err != nil {
		log.Info("no headers-more module: Ingresses whose snippets use more_* directives are not served", "module", g.HeadersMoreModule, "err", err)
		g.HeadersMoreModule = ""
	}
}
