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
	b.WriteString("and the default stays; an unknown key is reported too. For the client-address keys\n")
	b.WriteString("(`use-forwarded-headers`, `enable-real-ip`, `forwarded-for-header`, `compute-full-forwarded-for`,\n")
	b.WriteString("`proxy-real-ip-cidr`, `use-proxy-protocol`, `proxy-protocol-header-timeout`) the value of the\n")
	b.WriteString("ConfigMap last served stays instead, so that a typo neither widens nor drops who is trusted.\n")
	b.WriteString("The ModSecurity keys (`enable-modsecurity`, `enable-owasp-modsecurity-crs`, `modsecurity-snippet`)\n")
	b.WriteString("keep the last served value too, and fail closed without one: the paths the WAF would cover\n")
	b.WriteString("answer 503 (`ModSecurityUnavailable`) rather than run without it ([security.md](security.md)).\n\n")
	b.WriteString("| key | default | what it sets |\n| --- | --- | --- |\n")
	for _, o := range model.GlobalOptions() {
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", o.Key, o.Default, o.Doc)
	}
	b.WriteString("\nExample:\n\n```yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: portico\n  namespace: portico\n")
	b.WriteString("data:\n  proxy-read-timeout: \"120\"\n  proxy-body-size: 8m\n  hsts-preload: \"true\"\n```\n")
	return b.String()
}

// TestConfigMapDocIsCurrent fails when docs/configmap.md differs from the table.
func TestConfigMapDocIsCurrent(t *testing.T) {
	golden.Check(t, "../../docs/configmap.md", configMapDoc(), *updateDocs, "run go test ./pkg/model -update-docs")
}
