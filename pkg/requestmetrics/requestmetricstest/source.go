// Package requestmetricstest gives tests a stand-in for nginx's figures.
package requestmetricstest

import (
	"context"
	"io"
	"strings"

	"github.com/portico-ingress/portico/pkg/requestmetrics"
)

// Set is one label set as nginx records it.
type Set struct {
	Route, Status, Method, Host, Canary string
}

// Source answers a dump in which every figure of each set is 1 (so every
// series, each histogram included, has a sample), for the layout of o.
type Source struct {
	text string
}

// NewSource returns the Source of sets for o.
func NewSource(o requestmetrics.Options, sets ...Set) *Source {
	var b strings.Builder
	figures, line := o.DumpLines()
	for _, s := range sets {
		for i := 1; i <= figures; i++ {
			b.WriteString(line(s.Route, s.Status, s.Method, s.Host, s.Canary, i, 1))
		}
	}
	return &Source{text: b.String()}
}

// Dump implements requestmetrics.Source.
func (s *Source) Dump(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(s.text)), nil
}

// Forget implements requestmetrics.Source; it forgets nothing.
func (s *Source) Forget(context.Context, []string) error { return nil }
