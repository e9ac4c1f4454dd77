//go:build linux

package framework

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Span is one outage: a run of requests that failed, with no success sent
// in between.
type Span struct {
	// From is when the first failed request of the run was sent.
	From time.Time
	// To is when the next successful request was sent (service was back),
	// or, for a run that lasts to the end of the load, when its last
	// failure came.
	To time.Time
	// Failed is the number of failed requests in the run.
	Failed int
	// Open says the run lasted to the end of the load: no request succeeded after it.
	Open bool
}

// Duration is the length of the span.
func (s Span) Duration() time.Duration { return s.To.Sub(s.From) }

// Analysis is what a load's samples say about an outage.
type Analysis struct {
	// Requests is the number of requests sent.
	Requests int
	// Failed is the number that failed.
	Failed int
	// FailedConnected is the number that failed after their connection was
	// established (requests in flight, not refused connections).
	FailedConnected int
	// Spans are the runs of failures, in time order.
	Spans []Span
	// Outage is the longest span.
	Outage time.Duration
	// TotalFailing is the sum of the spans.
	TotalFailing time.Duration
	// Details counts the failures by their Detail.
	Details map[string]int
}

// Analyse finds the outages in samples, which must be in the order they
// were sent (as Load.Stop returns them). A span runs from the sending of
// the first request that failed to the sending of the next request that
// succeeded: with several clients, that is when the service was seen
// failing first and seen back first.
func Analyse(samples []Sample) Analysis {
	a := Analysis{Requests: len(samples), Details: map[string]int{}}
	var cur *Span
	for _, s := range samples {
		if s.OK {
			if cur != nil {
				cur.To = s.Start
				a.Spans = append(a.Spans, *cur)
				cur = nil
			}
			continue
		}
		a.Failed++
		if s.Connected {
			a.FailedConnected++
		}
		a.Details[s.Detail]++
		if cur == nil {
			cur = &Span{From: s.Start, To: s.End}
		}
		cur.Failed++
		if s.End.After(cur.To) {
			cur.To = s.End
		}
	}
	if cur != nil {
		cur.Open = true
		a.Spans = append(a.Spans, *cur)
	}
	for _, s := range a.Spans {
		a.Outage = max(a.Outage, s.Duration())
		a.TotalFailing += s.Duration()
	}
	return a
}

// Open reports whether the load ended in an outage.
func (a Analysis) Open() bool { return len(a.Spans) > 0 && a.Spans[len(a.Spans)-1].Open }

// RecoveredAt is when service was seen back after the last outage that
// ended at or after since: zero with ok when there was none, ok false when
// the last one lasted to the end of the load.
func (a Analysis) RecoveredAt(since time.Time) (at time.Time, ok bool) {
	for _, s := range a.SpansSince(since) {
		if s.Open {
			return time.Time{}, false
		}
		at = s.To
	}
	return at, true
}

// SpansSince returns the spans that end at or after since.
func (a Analysis) SpansSince(since time.Time) []Span {
	var out []Span
	for _, s := range a.Spans {
		if !s.To.Before(since) {
			out = append(out, s)
		}
	}
	return out
}

// DetailSummary lists the failure kinds with their counts, most frequent
// first ("connection refused×12, status 503×3").
func (a Analysis) DetailSummary() string {
	keys := slices.SortedFunc(maps.Keys(a.Details), func(x, y string) int {
		if a.Details[x] != a.Details[y] {
			return a.Details[y] - a.Details[x]
		}
		return strings.Compare(x, y)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s×%d", k, a.Details[k])
	}
	return strings.Join(parts, ", ")
}
