package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/source/manifests"
)

// manifestSource adapts the manifests source to the controller: problems in
// the files are logged when they appear, not at every sync.
type manifestSource struct {
	src *manifests.Source
	log *slog.Logger

	mu   sync.Mutex
	seen map[string]bool
}

func newManifestSource(dir string, log *slog.Logger) *manifestSource {
	return &manifestSource{src: manifests.New(dir, log), log: log}
}

func (m *manifestSource) Snapshot() (*snapshot.Snapshot, error) {
	snap, problems := m.src.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	current := make(map[string]bool, len(problems))
	for _, p := range problems {
		msg := p.Error()
		current[msg] = true
		if m.seen[msg] {
			continue
		}
		if p.Severity == manifests.SeverityWarning {
			m.log.Warn("manifest problem", "problem", msg)
		} else {
			m.log.Error("manifest problem", "problem", msg)
		}
	}
	m.seen = current
	return snap, nil
}

func (m *manifestSource) Run(ctx context.Context, changed func()) error {
	return m.src.Run(ctx, changed)
}
