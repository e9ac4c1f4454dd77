package render_test

import (
	"testing"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/render"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// These complement bench_test.go with the controller's own way of syncing:
// one KeyPairCache for the process, one Prepare per sync, Output.Render
// for the config that goes to nginx.

// BenchmarkSyncCold is a first sync at 10,000 Ingresses: empty caches.
func BenchmarkSyncCold(b *testing.B) {
	snap := fixture.Synthetic(incrementalSize)
	opts := benchOptions()
	buildSynthetic(b, incrementalSize, opts)
	b.ReportAllocs()
	for b.Loop() {
		opts.KeyPairs = model.NewKeyPairCache()
		r, err := render.New("")
		if err != nil {
			b.Fatal(err)
		}
		cfg, _ := model.Build(snap, opts)
		out, err := r.Prepare(cfg)
		if err != nil {
			b.Fatal(err)
		}
		_ = out.Render(2)
	}
}

// BenchmarkSyncUnchanged is a sync at 10,000 Ingresses when nothing changed
// since the last one: warm caches, and the hash says "unchanged".
func BenchmarkSyncUnchanged(b *testing.B) {
	snap := fixture.Synthetic(incrementalSize)
	opts := benchOptions()
	opts.KeyPairs = model.NewKeyPairCache()
	r, err := render.New("")
	if err != nil {
		b.Fatal(err)
	}
	cfg := buildSynthetic(b, incrementalSize, opts)
	if _, err := r.Prepare(cfg); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		cfg, _ := model.Build(snap, opts)
		if _, err := r.Prepare(cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyncOneChanged is BenchmarkIncremental as the controller runs it
// (key pair cache, one Prepare); RenderOnly times Prepare and Render alone.
func BenchmarkSyncOneChanged(b *testing.B) {
	for _, renderOnly := range []bool{false, true} {
		name := "BuildAndRender"
		if renderOnly {
			name = "RenderOnly"
		}
		b.Run(name, func(b *testing.B) {
			n := incrementalSize
			snap := fixture.Synthetic(n)
			opts := benchOptions()
			opts.KeyPairs = model.NewKeyPairCache()
			r, err := render.New("")
			if err != nil {
				b.Fatal(err)
			}
			cfg := buildSynthetic(b, n, opts)
			if _, err := r.Prepare(cfg); err != nil {
				b.Fatal(err)
			}
			opts.LastAccepted = cfg.Accepted
			gen := uint64(1)
			b.ReportAllocs()
			for b.Loop() {
				gen++
				if renderOnly {
					b.StopTimer()
				}
				cfg, _ := model.Build(withOneChange(snap, gen), opts)
				if renderOnly {
					b.StartTimer()
				}
				out, err := r.Prepare(cfg)
				if err != nil {
					b.Fatal(err)
				}
				_ = out.Render(gen)
				opts.LastAccepted = cfg.Accepted
			}
		})
	}
}
