package controller

import (
	"log/slog"
	"sync"

	"github.com/portico-ingress/portico/pkg/model"
)

// LogFindings logs each finding once when it appears and once when it is
// gone, so a steady problem does not repeat at every sync.
type LogFindings struct {
	// Logger receives the lines.
	Logger *slog.Logger

	mu   sync.Mutex
	seen map[model.Finding]bool
}

// Findings implements FindingRecorder.
func (l *LogFindings) Findings(findings []model.Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	current := make(map[model.Finding]bool, len(findings))
	for _, f := range findings {
		current[f] = true
		if !l.seen[f] {
			l.Logger.Warn(f.Message, "object", f.Object.String(), "reason", f.Reason, "severity", string(f.Severity))
		}
	}
	for f := range l.seen {
		if !current[f] {
			l.Logger.Info("resolved: "+f.Message, "object", f.Object.String(), "reason", f.Reason)
		}
	}
	l.seen = current
}
