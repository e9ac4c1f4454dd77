// Package templates embeds the default nginx.conf template, so the binary
// renders a working configuration without any file next to it.
package templates

import _ "embed"

// NginxTemplate is the default text/template for nginx.conf.
//
//go:embed nginx.tmpl
var NginxTemplate string
