package reload

import (
	"context"
	"log/slog"
)

// Recorder receives reload events. Issue 3 will add a Kubernetes Event recorder behind this interface.
type Recorder interface {
	// Record handles one reload event; it must not block the reload loop for long.
	Record(Event)
}

// RecorderFunc adapts a plain function to Recorder.
type RecorderFunc func(Event)

// Record calls f(ev).
func (f RecorderFunc) Record(ev Event) { f(ev) }

// Multi returns a Recorder that hands each event to every recorder in order.
// Nil recorders are skipped so callers can pass optional sinks unconditionally.
func Multi(recorders ...Recorder) Recorder {
	m := make(multi, 0, len(recorders))
	for _, r := range recorders {
		if r != nil {
			m = append(m, r)
		}
	}
	return m
}

type multi []Recorder

func (m multi) Record(ev Event) {
	for _, r := range m {
		r.Record(ev)
	}
}

// LogRecorder writes one structured log line per reload event.
type LogRecorder struct {
	// Logger receives the lines; nil discards them rather than reaching for a global logger.
	Logger *slog.Logger
}

// Record logs ev at Warn when the attempt failed and Info otherwise, so
// failed reloads stand out. Every attempt gets its line, retries included.
func (l LogRecorder) Record(ev Event) {
	if l.Logger == nil {
		return
	}
	level := slog.LevelInfo
	if ev.Result.Failed() {
		level = slog.LevelWarn
	}
	// A constant message keeps log queries simple; the details live in attributes.
	l.Logger.LogAttrs(context.Background(), level, "nginx reload",
		slog.String("result", string(ev.Result)),
		slog.Uint64("generation", ev.Generation),
		slog.String("config_hash", ev.ConfigHash),
		slog.Float64("duration_ms", durationMS(ev.Duration)),
		slog.Int("added", len(ev.Changes.Added)),
		slog.Int("removed", len(ev.Changes.Removed)),
		slog.Int("changed", len(ev.Changes.Changed)),
		slog.String("message", ev.Message),
		slog.Int("attempts", ev.attempts()),
	)
}
