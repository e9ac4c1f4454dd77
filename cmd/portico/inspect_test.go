package main

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/status"
)

// TestInspectCommand runs `portico inspect VIEW` and `kubectl-portico
// inspect VIEW` against a status server holding the fixture's views.
func TestInspectCommand(t *testing.T) {
	v, _, _ := debugViewsFixture(t)
	srv := httptest.NewServer(status.New(status.Options{Serve: status.Debug, Certificates: v.Certificates, Ingresses: v.Ingresses,
		Config: func() []byte {
			return []byte("http {\n    server {\n        server_name \"shop.example.com\";\n    }\n    server {\n        server_name \"blog.example.com\";\n    }\n}\n")
		}}).Handler())
	t.Cleanup(srv.Close)

	tests := []struct {
		name     string
		argv0    string
		args     []string
		wantCode int
		want     []string
		not      []string
	}{
		{"certs", "portico", []string{"inspect", "certs"}, 0, []string{"NAMESPACE", "shop-tls", "shop.example.com", "2031-02-03T04:05:06Z"}, nil},
		{"certs as the kubectl plugin", "kubectl-portico", []string{"inspect", "certs", "--address", srv.URL},
			0, []string{"shop-tls", "2031-02-03T04:05:06Z"}, nil},
		{"certs json", "portico", []string{"inspect", "certs", "-o", "json"}, 0,
			[]string{`"secret": "shop-tls"`, `"not_after": "2031-02-03T04:05:06Z"`, `"sha256_fingerprint"`}, []string{"BEGIN"}},
		{"ingresses", "portico", []string{"inspect", "ingresses"}, 0,
			[]string{"shop.example.com", "shop/web:80", "shop/shop-tls", "ServiceNotFound"}, nil},
		{"conf of one server", "portico", []string{"inspect", "conf", "--server", "blog.example.com"}, 0,
			[]string{`server_name "blog.example.com"`}, []string{"shop.example.com"}},
		{"conf refuses json", "portico", []string{"inspect", "conf", "-o", "json"}, 1, []string{"-o is not supported"}, nil},
		{"a view the controller lacks", "portico", []string{"inspect", "backends"}, 1, []string{"no balancer data"}, nil},
		{"older controller", "portico", []string{"inspect", "reloads", "--address", srv.URL + "/nothing-here"}, 1,
			[]string{"older than this command"}, nil},
		{"bad format", "portico", []string{"inspect", "certs", "-o", "yaml"}, 1, []string{`-o "yaml": use table or json`}, nil},
		{"bad address", "portico", []string{"inspect", "certs", "--address", "nowhere"}, 1, []string{"give http://HOST:PORT"}, nil},
		{"help has examples", "kubectl-portico", []string{"inspect", "certs", "--help"}, 0,
			[]string{"kubectl portico inspect certs", "never the key", "sha256_fingerprint"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !strings.Contains(strings.Join(args, " "), "--address") {
				args = append(args, "--address", srv.URL)
			}
			var out, errOut bytes.Buffer
			code := runAs(tt.argv0, args, &out, &errOut)
			all := out.String() + errOut.String()
			require.Equal(t, tt.wantCode, code, all)
			for _, w := range tt.want {
				assert.Contains(t, all, w)
			}
			for _, n := range tt.not {
				assert.NotContains(t, all, n)
			}
		})
	}
}

// TestInspectModes: the plugin reaches the controller through the
// kubeconfig unless --address is given; portico does only when asked.
func TestInspectModes(t *testing.T) {
	tests := []struct {
		plugin bool
		args   []string
		kube   bool
	}{
		{false, nil, false},
		{false, []string{"--kubeconfig", "k"}, true},
		{false, []string{"-n", "ingress"}, true},
		{false, []string{"--pod", "p"}, true},
		{true, nil, true},
		{true, []string{"--address", "127.0.0.1:1"}, false},
		{true, []string{"--address", "127.0.0.1:1", "--kubeconfig", "k"}, true},
	}
	for _, tt := range tests {
		cmd := newInspectCommand(&bytes.Buffer{}, &bytes.Buffer{}, tt.plugin)
		require.NoError(t, cmd.ParseFlags(tt.args))
		f := &inspectFlags{plugin: tt.plugin}
		assert.Equal(t, tt.kube, f.viaKube(cmd), "plugin=%v %v", tt.plugin, tt.args)
	}
}
