package annotations

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseProxy(t *testing.T) {
	cases := []struct {
		name     string
		in       map[string]string
		want     Proxy
		problems []string
	}{
		{name: "none", in: map[string]string{"other.io/x": "1"}},
		{name: "timeouts and sizes", in: map[string]string{
			DefaultPrefix + "/proxy-read-timeout":        "120",
			DefaultPrefix + "/proxy-connect-timeout":     " 3 ",
			DefaultPrefix + "/proxy-body-size":           "8m",
			DefaultPrefix + "/proxy-buffering":           "on",
			DefaultPrefix + "/proxy-next-upstream":       "error http_502",
			DefaultPrefix + "/proxy-next-upstream-tries": "0",
		}, want: Proxy{ReadTimeout: "120s", ConnectTimeout: "3s", BodySize: "8m", Buffering: "on",
			NextUpstream: []string{"error", "http_502"}, NextUpstreamTries: "0"}},
		{name: "injection attempts are invalid, a plain bad value falls back", in: map[string]string{
			DefaultPrefix + "/proxy-read-timeout":  "60s; return 200",
			DefaultPrefix + "/proxy-body-size":     "1m;\n}",
			DefaultPrefix + "/proxy-next-upstream": "error; load_module x",
			DefaultPrefix + "/proxy-http-version":  "2",
		}, problems: []string{
			"InvalidAnnotation " + DefaultPrefix + "/proxy-body-size",
			"IgnoredAnnotationValue " + DefaultPrefix + "/proxy-http-version",
			"InvalidAnnotation " + DefaultPrefix + "/proxy-next-upstream",
			"InvalidAnnotation " + DefaultPrefix + "/proxy-read-timeout",
		}},
		{name: "unknown key", in: map[string]string{DefaultPrefix + "/enable-magic": "true"},
			problems: []string{"UnknownAnnotation " + DefaultPrefix + "/enable-magic"}},
	}
	p := NewParser("")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, problems := p.Parse(c.in)
			assert.Equal(t, c.want, set.Proxy)
			var got []string
			for _, pr := range problems {
				got = append(got, string(pr.Kind)+" "+pr.Key)
				assert.NotContains(t, pr.Message, "\n", "messages stay on one line")
			}
			assert.Equal(t, c.problems, got)
		})
	}
}

func TestCustomPrefix(t *testing.T) {
	set, problems := NewParser("example.com/").Parse(map[string]string{
		"example.com/proxy-read-timeout":         "5",
		DefaultPrefix + "/proxy-connect-timeout": "9",
	})
	assert.Empty(t, problems)
	assert.Equal(t, "5s", set.Proxy.ReadTimeout)
	assert.Empty(t, set.Proxy.ConnectTimeout, "other prefixes are not read")
}

func TestEveryFieldIsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Fields() {
		assert.False(t, seen[f.Key], "duplicate key %s", f.Key)
		seen[f.Key] = true
		assert.NotEmpty(t, f.Doc, f.Key)
		assert.NotEmpty(t, f.Allowed, f.Key)
		assert.NotEmpty(t, f.Group, f.Key)
		assert.NotNil(t, f.apply, f.Key)
	}
}
