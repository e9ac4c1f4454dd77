package annotations

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/portico-ingress/portico/pkg/testutil/golden"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/annotations.md from the field tables")

func annotationsDoc() string {
	var b strings.Builder
	b.WriteString("# Annotations\n\n")
	b.WriteString("<!-- Generated from the tables in pkg/annotations by `go test ./pkg/annotations -update-docs`; do not edit. -->\n\n")
	b.WriteString("Portico reads the `nginx.ingress.kubernetes.io/*` annotations ingress-nginx users already have\n")
	b.WriteString("(another prefix with `--annotations-prefix`). Each value is checked against what is allowed:\n\n")
	b.WriteString("- an invalid value is a Warning (`InvalidAnnotation`) on the Ingress; the Ingress keeps being\n")
	b.WriteString("  served as it was last accepted, and a new Ingress with an invalid value is not served until\n")
	b.WriteString("  it is fixed; other Ingresses are never affected;\n")
	b.WriteString("- a key under the prefix that Portico does not implement is reported (`UnknownAnnotation`)\n")
	b.WriteString("  and ignored.\n\n")
	b.WriteString("Annotations apply to every path of the Ingress that carries them.\n")
	group := ""
	for _, f := range Fields() {
		if f.Group != group {
			group = f.Group
			fmt.Fprintf(&b, "\n## %s\n\n| annotation | allowed | default | risk | what it does |\n| --- | --- | --- | --- | --- |\n", group)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", f.Key, f.Allowed, f.Default, f.Risk, f.Doc)
	}
	b.WriteString("\nExample:\n\n```yaml\nmetadata:\n  annotations:\n")
	b.WriteString("    nginx.ingress.kubernetes.io/proxy-read-timeout: \"300\"\n")
	b.WriteString("    nginx.ingress.kubernetes.io/proxy-body-size: 20m\n```\n")
	return b.String()
}

// TestAnnotationsDocIsCurrent fails when docs/annotations.md differs from the tables.
func TestAnnotationsDocIsCurrent(t *testing.T) {
	golden.Check(t, "../../docs/annotations.md", annotationsDoc(), *updateDocs, "run go test ./pkg/annotations -update-docs")
}
