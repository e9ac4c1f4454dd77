package render_test
import ("testing";"runtime";"os";"runtime/pprof";"github.com/portico-ingress/portico/pkg/model";"github.com/portico-ingress/portico/pkg/render";"github.com/portico-ingress/portico/pkg/testutil/fixture")
func TestMemStages(t *testing.T){
 runtime.MemProfileRate = 512
 snap := fixture.Synthetic(10000)
 opts := benchOptions()
 opts.Units = model.NewUnitCache()
 cfg2, _ := model.Build(snap, opts)
 r, _ := render.New("")
 out, err := r.Prepare(cfg2); if err != nil { t.Fatal(err) }
 b := out.Render(2)
 runtime.GC()
 f, _ := os.Create("/tmp/inuse.out"); pprof.Lookup("heap").WriteTo(f, 0); f.Close()
 runtime.KeepAlive(snap); runtime.KeepAlive(out); runtime.KeepAlive(b); runtime.KeepAlive(cfg2); runtime.KeepAlive(r)
}
