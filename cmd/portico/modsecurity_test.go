package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
)

// TestResolveModSecurity: each ModSecurity file missing on the host is
// cleared, so that the model refuses the Ingresses that need it
// (ModSecurityUnavailable) instead of nginx -t failing for everyone; the
// files present stay.
func TestResolveModSecurity(t *testing.T) {
	dir := t.TempDir()
	file := func(name string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
		return p
	}
	module, conf, setup := file("mod.so"), file("modsecurity.conf"), file("crs-setup.conf")
	file("rules/REQUEST-901.conf")
	rules := filepath.Join(dir, "rules", "*.conf")
	missing := filepath.Join(dir, "missing")
	cases := []struct {
		name string
		in   model.Global
		want model.Global
	}{
		{"all present",
			model.Global{ModSecurityModule: module, ModSecurityConf: conf, OWASPCRSSetup: setup, OWASPCRSRules: rules},
			model.Global{ModSecurityModule: module, ModSecurityConf: conf, OWASPCRSSetup: setup, OWASPCRSRules: rules}},
		{"no module",
			model.Global{ModSecurityModule: missing, ModSecurityConf: conf, OWASPCRSSetup: setup, OWASPCRSRules: rules},
			model.Global{ModSecurityConf: conf, OWASPCRSSetup: setup, OWASPCRSRules: rules}},
		{"no base rules",
			model.Global{ModSecurityModule: module, ModSecurityConf: missing, OWASPCRSSetup: setup, OWASPCRSRules: rules},
			model.Global{ModSecurityModule: module, OWASPCRSSetup: setup, OWASPCRSRules: rules}},
		{"no CRS setup",
			model.Global{ModSecurityModule: module, ModSecurityConf: conf, OWASPCRSSetup: missing, OWASPCRSRules: rules},
			model.Global{ModSecurityModule: module, ModSecurityConf: conf, OWASPCRSRules: rules}},
		{"CRS glob matches nothing",
			model.Global{ModSecurityModule: module, ModSecurityConf: conf, OWASPCRSSetup: setup, OWASPCRSRules: filepath.Join(missing, "*.conf")},
			model.Global{ModSecurityModule: module, ModSecurityConf: conf, OWASPCRSSetup: setup}},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := model.Options{Global: c.in}
			resolveModSecurity(&opts, log)
			assert.Equal(t, c.want, opts.Global)
		})
	}
}
