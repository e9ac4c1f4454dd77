package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/testutil/nginxtest"
)

// TestREADMEListsEveryControllerFlag keeps the README's flag table true to --help.
func TestREADMEListsEveryControllerFlag(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	cmd := newControllerCommand(&bytes.Buffer{}, &bytes.Buffer{})
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		assert.True(t, strings.Contains(string(readme), "`--"+f.Name+"`"), "README.md does not document --%s", f.Name)
	})
}

func TestHelpExplainsEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"controller", "--help"}, {"render", "--help"}, {"check", "--help"}, {"version", "--help"},
		{"inspect", "--help"}, {"inspect", "backends", "--help"}, {"inspect", "certs", "--help"}, {"inspect", "conf", "--help"},
		{"inspect", "ingresses", "--help"}, {"inspect", "reloads", "--help"}} {
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		assert.Equal(t, 0, code, "%v: %s", args, errOut.String())
		assert.Contains(t, out.String(), "Usage:", "%v", args)
	}
}

// TestRenderCheckExample runs the example of render --help: the examples
// rendered and tested with the real nginx -t (as root too, where nginx
// workers run as nobody and must reach the Lua code).
func TestRenderCheckExample(t *testing.T) {
	bin := nginxtest.Binary(t)
	var out, errOut bytes.Buffer
	code := run([]string{"render", "-f", "../../examples", "--allow-loopback-backends", "--check", "--nginx-binary", bin}, &out, &errOut)
	require.Equal(t, 0, code, errOut.String())
	assert.Contains(t, errOut.String(), "nginx -t: configuration is valid")
}

func TestRenderExitCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	// The examples' echo servers run on loopback, which only the flag allows.
	code := run([]string{"render", "-f", "../../examples"}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "BackendAddressRefused")

	out.Reset()
	errOut.Reset()
	code = run([]string{"render", "-f", "../../examples", "--allow-loopback-backends"}, &out, &errOut)
	assert.Equal(t, 0, code, errOut.String())
	assert.Contains(t, out.String(), `server_name "cafe.example.com"`)

	out.Reset()
	errOut.Reset()
	code = run([]string{"render", "-f", "../../pkg/model/testdata/invalid.yaml"}, &out, &errOut)
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut.String(), "InvalidPath")

	code = run([]string{"render"}, &out, &errOut)
	assert.NotEqual(t, 0, code, "render without -f must fail")

	code = run([]string{"controller", "--manifests", "x", "--http-port", "0"}, &out, &errOut)
	assert.Equal(t, 1, code)
}
