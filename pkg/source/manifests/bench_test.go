package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkLoad measures a directory of 100 files holding 5,000 Ingresses
// and 5,000 Services: as it is, and with one file edited before each Load,
// which is what a Load normally follows.
func BenchmarkLoad(b *testing.B) {
	dir := b.TempDir()
	var edited string
	for f := range 100 {
		var sb strings.Builder
		for i := range 50 {
			name := fmt.Sprintf("app-%03d-%02d", f, i)
			fmt.Fprintf(&sb, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  ports:\n    - name: http\n      port: 80\n", name)
			fmt.Fprintf(&sb, "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: %s\nspec:\n  rules:\n    - host: %s.example.com\n      http:\n        paths:\n          - path: /\n            pathType: Prefix\n            backend:\n              service:\n                name: %s\n                port:\n                  name: http\n", name, name, name)
		}
		edited = writeFile(b, dir, filepath.Join(fmt.Sprintf("team-%d", f%10), fmt.Sprintf("f%03d.yaml", f)), sb.String())
	}
	content, err := os.ReadFile(edited)
	if err != nil {
		b.Fatal(err)
	}
	load := func(b *testing.B, src *Source) {
		snap, problems := src.Load()
		if len(problems) > 0 || snap.Len() != 10000 {
			b.Fatalf("got %d objects, problems %v", snap.Len(), problems)
		}
	}

	b.Run("unchanged", func(b *testing.B) {
		src := New(dir, nil)
		for b.Loop() {
			load(b, src)
		}
	})
	b.Run("one file edited", func(b *testing.B) {
		src := New(dir, nil)
		n := 0
		for b.Loop() {
			n++
			if err := os.WriteFile(edited, fmt.Appendf(content, "\n# edit %d\n", n), 0o644); err != nil {
				b.Fatal(err)
			}
			load(b, src)
		}
	})
}
