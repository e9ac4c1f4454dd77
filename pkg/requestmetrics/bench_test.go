package requestmetrics

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// BenchmarkCollect is one scrape of the request series of n Ingresses of
// one path each, each with requests of 3 statuses (200, 404, 503) and 2
// methods (GET, POST): 6 label sets per Ingress, every histogram observed.
// It reports the series the scrape exports with the default cap
// (series/op), those it would export without one (uncapped-series/op: what
// ingress-nginx exports for the same traffic), the cap's level and the
// exposition's size; dump-MB/op is what nginx answers the scrape.
func BenchmarkCollect(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("ingresses=%d", n), func(b *testing.B) {
			o := DefaultOptions()
			l := o.layout()
			_, dumpLine := o.DumpLines()
			routes := map[string]RouteLabels{}
			var dump strings.Builder
			for i := range n {
				r := fmt.Sprintf("r%016x", i)
				routes[r] = RouteLabels{Namespace: fmt.Sprintf("team%d", i%50), Ingress: fmt.Sprintf("app%d", i), Service: fmt.Sprintf("app%d", i), Path: "/"}
				for _, status := range []string{"200", "404", "503"} {
					for _, method := range []string{"GET", "POST"} {
						// As traffic fills them: the count, and per histogram its
						// count, its sum and two of its buckets.
						dump.WriteString(dumpLine(r, status, method, "", "", 1, 10))
						for _, h := range l.hists {
							for _, idx := range []int{h.offset, h.offset + 1, h.offset + 2 + 1, h.offset + 2 + 2} {
								dump.WriteString(dumpLine(r, status, method, "", "", idx, 5))
							}
						}
					}
				}
			}
			src := &fakeSource{text: dump.String()}
			report := map[string]float64{}
			uncapped := o
			uncapped.MaxSeries = 1 << 30
			for _, tc := range []struct {
				name string
				o    Options
			}{{"", o}, {"uncapped-", uncapped}} {
				c := NewCollector(tc.o, Config{Source: src})
				c.SetRoutes(routes)
				reg := prometheus.NewRegistry()
				reg.MustRegister(c)
				families, err := reg.Gather()
				if err != nil {
					b.Fatal(err)
				}
				series := 0
				var text strings.Builder
				for _, f := range families {
					if !strings.HasPrefix(f.GetName(), Prefix) {
						continue
					}
					for _, m := range f.GetMetric() {
						if h := m.GetHistogram(); h != nil {
							series += len(h.GetBucket()) + 3
						} else {
							series++
						}
					}
					if _, err := expfmt.MetricFamilyToText(&text, f); err != nil {
						b.Fatal(err)
					}
				}
				report[tc.name+"series/op"] = float64(series)
				report[tc.name+"exposition-MB/op"] = float64(text.Len()) / 1e6
				if tc.name == "" {
					report["cap-level/op"] = float64(c.level)
				}
			}
			report["label-sets/op"] = float64(n * 6)
			report["dump-MB/op"] = float64(dump.Len()) / 1e6
			c := NewCollector(o, Config{Source: src})
			c.SetRoutes(routes)
			b.ResetTimer()
			for range b.N {
				ch := make(chan prometheus.Metric, 1024)
				go func() {
					c.Collect(ch)
					close(ch)
				}()
				for range ch {
				}
			}
			b.StopTimer()
			for unit, v := range report {
				b.ReportMetric(v, unit)
			}
		})
	}
}
