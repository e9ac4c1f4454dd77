package render_test

import (
	"fmt"
	"testing"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// BenchmarkBuildRender measures one sync's CPU work (model build, hash
// render, generation render) at 1,000 and 10,000 Ingresses, and reports the
// config size. DESIGN.md has ingress-nginx's figures to compare with.
func BenchmarkBuildRender(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("ingresses=%d", n), func(b *testing.B) {
			snap := fixture.Synthetic(n)
			r, err := render.New("")
			if err != nil {
				b.Fatal(err)
			}
			opts := goldenOptions()
			var size int
			b.ResetTimer()
			for b.Loop() {
				cfg, _ := model.Build(snap, opts)
				if _, _, err := r.Hash(cfg); err != nil {
					b.Fatal(err)
				}
				conf, err := r.Render(cfg, 2)
				if err != nil {
					b.Fatal(err)
				}
				size = len(conf)
			}
			b.ReportMetric(float64(size)/1e6, "MB-config")
		})
	}
}
