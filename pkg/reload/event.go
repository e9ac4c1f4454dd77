// Package reload describes nginx reload attempts as events and fans them out
// to the places operators read them: logs, metrics, the /debug/reloads history
// and (later) Kubernetes Events. Every reload attempt produces exactly one
// Event, whatever its outcome, so a failed or slow reload is never silent.
package reload

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// Result is the outcome of a reload attempt.
type Result string

const (
	// ResultSuccess means nginx accepted the config and serves the new generation.
	ResultSuccess Result = "success"
	// ResultInvalid means `nginx -t` rejected the config; the old config stays live.
	ResultInvalid Result = "invalid"
	// ResultFailed means writing the config or signalling nginx failed.
	ResultFailed Result = "failed"
	// ResultTimeout means nginx did not finish in time: it did not serve
	// the new generation, or nginx -t ran past its deadline and was killed.
	ResultTimeout Result = "timeout"
)

// ResultRecovered is not a reload attempt: after attempts that failed, the
// configuration wanted is the live one again (the change was reverted, or
// what nginx -t refused was left out), so nginx runs what is wanted and
// nothing needed reloading. It ends a run of failures.
const ResultRecovered Result = "recovered"

// Results lists every Result of a reload attempt, so metrics can
// pre-create one series per value. ResultRecovered is not one.
func Results() []Result {
	return []Result{ResultSuccess, ResultInvalid, ResultFailed, ResultTimeout}
}

// Failed reports whether r is the result of an attempt that did not make
// its configuration live.
func (r Result) Failed() bool {
	switch r {
	case ResultInvalid, ResultFailed, ResultTimeout:
		return true
	}
	return false
}

// RecoveredMessage is the Message of a ResultRecovered event.
const RecoveredMessage = "recovered: back to the live configuration"

// Changes lists the server names that differ from the previous live config.
type Changes struct {
	// Added are server names present now but not before, sorted.
	Added []string `json:"added"`
	// Removed are server names present before but not now, sorted.
	Removed []string `json:"removed"`
	// Changed are server names whose rendered block differs, sorted.
	Changed []string `json:"changed"`
}

// Empty reports whether no server was added, removed or changed.
func (c Changes) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0
}

// MarshalJSON writes nil lists as [] so JSON readers never have to handle null.
func (c Changes) MarshalJSON() ([]byte, error) {
	// A distinct type drops this method and avoids infinite recursion.
	type plain Changes
	return json.Marshal(plain{
		Added:   nonNil(c.Added),
		Removed: nonNil(c.Removed),
		Changed: nonNil(c.Changed),
	})
}

// clone copies the lists so a stored event does not alias the producer's slices.
func (c Changes) clone() Changes {
	return Changes{
		Added:   cloneStrings(c.Added),
		Removed: cloneStrings(c.Removed),
		Changed: cloneStrings(c.Changed),
	}
}

// Event is one reload attempt.
type Event struct {
	// Time is when the attempt started.
	Time time.Time
	// Result is the outcome of the attempt.
	Result Result
	// Generation is the config generation the attempt tried to make live.
	Generation uint64
	// ConfigHash is the hex sha256 of the rendered config.
	ConfigHash string
	// Duration runs from the start of the attempt until nginx served the new generation (or the failure).
	Duration time.Duration
	// Changes lists what differs from the previous live config.
	Changes Changes
	// Message is nginx's own error output for failures; "" on success.
	Message string
	// Count is how many attempts in a row this event stands for: retries
	// of the same configuration that failed the same way are folded into
	// one (see SameFailure). 0 means 1.
	Count int
	// LastTime is when the last of those attempts started; zero means Time.
	LastTime time.Time
}

// SameFailure reports whether e and o are failed attempts of the same
// configuration with the same result: a retry that changed nothing. Their
// messages may differ in details (the generation tried, how long nginx
// took); the newer one is kept.
func (e Event) SameFailure(o Event) bool {
	return e.Result.Failed() && e.Result == o.Result && e.ConfigHash == o.ConfigHash
}

// attempts is Count with its zero value read as one.
func (e Event) attempts() int { return max(e.Count, 1) }

// last is LastTime with its zero value read as Time.
func (e Event) last() time.Time {
	if e.LastTime.IsZero() {
		return e.Time
	}
	return e.LastTime
}

// Fold returns e with o, the next attempt that failed the same way, folded
// in: e's first time, o's generation, duration, changes and message, and
// the attempts of both counted.
func (e Event) Fold(o Event) Event {
	first := e.Time
	o.Count = e.attempts() + o.attempts()
	o.LastTime = o.last()
	o.Time = first
	return o
}

// eventJSON is the wire shape of Event: snake_case names and the duration in
// milliseconds, because nanosecond integers are unreadable to operators.
type eventJSON struct {
	Time       time.Time `json:"time"`
	Result     Result    `json:"result"`
	Generation uint64    `json:"generation"`
	ConfigHash string    `json:"config_hash"`
	DurationMS float64   `json:"duration_ms"`
	Changes    Changes   `json:"changes"`
	Message    string    `json:"message"`
	Count      int       `json:"count"`
	LastTime   time.Time `json:"last_time"`
}

// MarshalJSON writes the event with snake_case fields and duration_ms.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventJSON{
		Time:       e.Time,
		Result:     e.Result,
		Generation: e.Generation,
		ConfigHash: e.ConfigHash,
		DurationMS: durationMS(e.Duration),
		Changes:    e.Changes,
		Message:    e.Message,
		Count:      e.attempts(),
		LastTime:   e.last(),
	})
}

// UnmarshalJSON reads the shape MarshalJSON writes, so clients and tests can round-trip events.
func (e *Event) UnmarshalJSON(data []byte) error {
	var w eventJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("decode reload event: %w", err)
	}
	*e = Event{
		Time:       w.Time,
		Result:     w.Result,
		Generation: w.Generation,
		ConfigHash: w.ConfigHash,
		Duration:   time.Duration(w.DurationMS * float64(time.Millisecond)),
		Changes:    w.Changes,
		Message:    w.Message,
		Count:      w.Count,
		LastTime:   w.LastTime,
	}
	return nil
}

// maxSummaryNames bounds the names listed per kind in Summary; a first sync of
// thousands of Ingresses must still give a readable one-liner.
const maxSummaryNames = 5

// maxSummaryMessage bounds nginx's output inside Summary (Kubernetes Event
// messages are capped at 1 KiB); the full text stays in Event.Message.
const maxSummaryMessage = 512

// Summary returns a human one-liner, for example
// "reload generation 7 succeeded in 312ms: 2 servers added (a.example.com, b.example.com), 1 changed (c.example.com)".
// Failures carry the result and nginx's output folded onto one line.
func (e Event) Summary() string {
	var b strings.Builder
	switch e.Result {
	case ResultRecovered:
		// Nothing was reloaded: say what nginx serves, and why.
		fmt.Fprintf(&b, "%s (generation %d)", RecoveredMessage, e.Generation)
		if e.Message != "" && e.Message != RecoveredMessage {
			b.WriteString(": ")
			b.WriteString(excerpt.Within(oneLine(strings.TrimPrefix(e.Message, RecoveredMessage+"; ")), maxSummaryMessage))
		}
		return b.String()
	case ResultSuccess:
		fmt.Fprintf(&b, "reload generation %d succeeded in %s", e.Generation, formatDuration(e.Duration))
	case ResultFailed:
		// "failed (failed)" would only stutter.
		fmt.Fprintf(&b, "reload generation %d failed after %s", e.Generation, formatDuration(e.Duration))
	default:
		fmt.Fprintf(&b, "reload generation %d failed (%s) after %s", e.Generation, e.Result, formatDuration(e.Duration))
	}
	if n := e.attempts(); n > 1 {
		fmt.Fprintf(&b, " (%d attempts in a row since %s)", n, e.Time.UTC().Format(time.RFC3339))
	}
	b.WriteString(": ")
	b.WriteString(changesText(e.Changes))
	if msg := oneLine(e.Message); msg != "" {
		b.WriteString(": ")
		b.WriteString(excerpt.Within(msg, maxSummaryMessage))
	}
	return b.String()
}

// changesText renders "2 servers added (a, b), 1 changed (c)"; the noun
// appears once, on the first clause, which reads naturally in English.
func changesText(c Changes) string {
	if c.Empty() {
		return "no server changes"
	}
	kinds := []struct {
		verb  string
		names []string
	}{
		{"added", c.Added},
		{"removed", c.Removed},
		{"changed", c.Changed},
	}
	var parts []string
	for _, k := range kinds {
		if len(k.names) == 0 {
			continue
		}
		count := fmt.Sprintf("%d", len(k.names))
		if len(parts) == 0 {
			noun := "servers"
			if len(k.names) == 1 {
				noun = "server"
			}
			count += " " + noun
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", count, k.verb, nameList(k.names)))
	}
	return strings.Join(parts, ", ")
}

// nameList lists up to maxSummaryNames names and counts the rest.
func nameList(names []string) string {
	if len(names) <= maxSummaryNames {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:maxSummaryNames], ", "), len(names)-maxSummaryNames)
}

// formatDuration rounds to a precision a human reads at a glance (312ms, 1.23s)
// instead of time.Duration's full nanosecond form.
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(10 * time.Millisecond).String()
	}
}

// oneLine folds nginx's multi-line output into one line separated by "; ".
func oneLine(s string) string {
	var lines []string
	for line := range strings.Lines(s) {
		if t := strings.TrimSpace(line); t != "" {
			lines = append(lines, t)
		}
	}
	return strings.Join(lines, "; ")
}

// durationMS converts to fractional milliseconds, the unit operators expect in JSON and logs.
func durationMS(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}
