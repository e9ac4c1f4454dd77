package model_test

import (
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/testutil/golden"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/configmap.md from the option table")

func configMapDoc() string {
	var b strings.Builder
	b.WriteString("# Global options (ConfigMap)\n\n")
	b.WriteString("<!-- Generated from pkg/model/configmap.go by `go test ./pkg/model -update-docs`; do not edit. -->\n\n")
	b.WriteString("`portico controller --configmap NAMESPACE/NAME` reads these keys, with the names ingress-nginx\n")
	b.WriteString("users know. A value that fails its check is reported (a Warning on the ConfigMap, a log line)\n")
	b.WriteString("and the default stays; an unknown key is reported too. For the keys marked *keeps last* (the\n")
	b.WriteString("client-address keys, the log keys and the ModSecurity keys) the value in effect in the configuration\n")
	b.WriteString("last served stays instead, through any number of bad edits, so that a typo neither widens nor drops\n")
	b.WriteString("who is trusted, nor changes where logs go or what log parsers read. A ConfigMap deleted and made\n")
	b.WriteString("again starts from the defaults. The ModSecurity keys (`enable-modsecurity`,\n")
	b.WriteString("`enable-owasp-modsecurity-crs`, `modsecurity-snippet`) fail closed without a value to keep: the\n")
	b.WriteString("paths the WAF would cover answer 503 (`ModSecurityUnavailable`) rather than run without it\n")
	b.WriteString("([security.md](security.md)).\n\n")
	b.WriteString("| key | default | what it sets |\n| --- | --- | --- |\n")
	for _, o := range model.GlobalOptions() {
		doc := o.Doc
		if o.KeepLast {
			doc += " (*keeps last*)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", o.Key, o.Default, doc)
	}
	b.WriteString(globalAuthDoc)
	b.WriteString("\nExample:\n\n```yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: portico\n  namespace: portico\n")
	b.WriteString("data:\n  proxy-read-timeout: \"120\"\n  proxy-body-size: 8m\n  hsts-preload: \"true\"\n```\n")
	return b.String()
}

// TestConfigMapDocIsCurrent fails when docs/configmap.md differs from the table.
func TestConfigMapDocIsCurrent(t *testing.T) {
	golden.Check(t, "../../docs/configmap.md", configMapDoc(), *updateDocs, "run go test ./pkg/model -update-docs")
}
