package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// keepLastValues are, for every ConfigMap key that keeps its previous value
// (GlobalOption.KeepLast), two good values and a bad one.
var keepLastValues = map[string][3]string{
	"log-format-upstream":                   {"$namespace $status", "$status", "$status $nope"},
	"use-forwarded-headers":                 {"true", "false", "yes please"},
	"enable-real-ip":                        {"true", "false", "on"},
	"forwarded-for-header":                  {"CF-Connecting-IP", "X-Real-IP", "X-F;\nset_real_ip_from 0.0.0.0/0"},
	"compute-full-forwarded-for":            {"true", "false", "maybe"},
	"proxy-real-ip-cidr":                    {"192.0.2.0/24", "10.0.0.0/8", "10.0.0.0/8; allow all"},
	"use-proxy-protocol":                    {"true", "false", "enabled"},
	"proxy-protocol-header-timeout":         {"1m", "10s", "-1"},
	"log-format-escape-json":                {"true", "false", "json"},
	"log-format-escape-none":                {"true", "false", "none"},
	"skip-access-log-urls":                  {"/healthz,/ready", "/ping", "/healthz, /x\";"},
	"access-log-path":                       {"/var/log/nginx/access.log", "/dev/stderr", "/etc/passwd"},
	"error-log-path":                        {"/var/log/nginx/error.log", "/dev/stdout", "syslog:server=192.0.2.1"},
	"enable-access-log-for-default-backend": {"true", "false", "sometimes"},
	"enable-modsecurity":                    {"true", "false", "ture"},
	"enable-owasp-modsecurity-crs":          {"true", "false", "yes"},
	"modsecurity-snippet":                   {"SecRuleEngine On", "SecRuleEngine DetectionOnly", "SecRuleEngine On\nInclude /etc/shadow"},
	"trust-incoming-traceparent":            {"false", "true", "no"},
}

// TestKeepLastValue checks the one mechanism by which a bad value of a
// KeepLast key keeps the live config's value, for every such key: a good
// value is taken; a bad one keeps the live value (the whole Global is then
// the one the live value gives), through a second bad edit too; another
// object under the same name, or no live config, gets the default.
func TestKeepLastValue(t *testing.T) {
	for _, o := range model.GlobalOptions() {
		if o.KeepLast {
			require.Contains(t, keepLastValues, o.Key, "a KeepLast key without test values")
		}
	}
	build := func(uid string, data map[string]string, last *model.Config) (*model.Config, []model.Finding) {
		opts := model.Options{ControllerClass: model.DefaultControllerClass, IngressClass: model.DefaultIngressClass,
			ConfigMap: "ops/portico", Global: model.DefaultGlobal()}
		if last != nil {
			opts.LastConfigMap, opts.LastConfigMapValues = last.ConfigMap, last.ConfigMapValues
		}
		return model.Build(&snapshot.Snapshot{ConfigMaps: []*corev1.ConfigMap{realIPConfigMap(uid, data)}}, opts)
	}
	keyFindings := func(findings []model.Finding, key string) []model.Finding {
		var out []model.Finding
		for _, f := range findings {
			if f.Reason == model.ReasonInvalidOption && len(f.Message) > len(key) && f.Message[:len(key)+1] == key+":" {
				out = append(out, f)
			}
		}
		return out
	}
	failsClosed := map[string]bool{}
	for _, o := range model.GlobalOptions() {
		failsClosed[o.Key] = o.FailsClosed()
	}
	for key, v := range keepLastValues {
		good1, good2, bad := v[0], v[1], v[2]
		t.Run(key, func(t *testing.T) {
			live, findings := build("1", map[string]string{key: good1}, nil)
			require.Empty(t, keyFindings(findings, key))
			require.Equal(t, good1, live.ConfigMapValues[key])
			defaults, _ := build("1", map[string]string{}, nil)

			for _, c := range []struct {
				name, uid, value, want, message string
				last                            *model.Config
			}{
				{"a good value is taken", "1", good2, good2, "", live},
				{"a bad value keeps the live one", "1", bad, good1, "keeping the last accepted value", live},
				{"another object gets the default", "2", bad, "", "keeping the default", live},
				{"no live config gets the default", "1", bad, "", "keeping the default", nil},
			} {
				t.Run(c.name, func(t *testing.T) {
					cfg, findings := build(c.uid, map[string]string{key: c.value}, c.last)
					got := keyFindings(findings, key)
					if failsClosed[key] && c.message == "keeping the default" {
						// A security control (ModSecurity) does not fall
						// back to its default "off": what it covers answers
						// 503 (modsecurity_test.go), and no rules are loaded.
						require.Len(t, got, 1)
						assert.Contains(t, got[0].Message, "does not fall back to its default")
						assert.NotContains(t, cfg.ConfigMapValues, key)
						assert.Nil(t, cfg.Global.ModSecurityHTTP)
						return
					}
					if c.message == "" {
						assert.Empty(t, got)
					} else {
						require.Len(t, got, 1)
						assert.Contains(t, got[0].Message, c.message)
					}
					if c.want == "" {
						assert.NotContains(t, cfg.ConfigMapValues, key)
						assert.Equal(t, defaults.Global, cfg.Global)
						return
					}
					assert.Equal(t, c.want, cfg.ConfigMapValues[key])
					if c.want == good1 {
						assert.Equal(t, live.Global, cfg.Global, "the Global the live value gives")
					}
				})
			}
			t.Run("a second bad edit still keeps it", func(t *testing.T) {
				first, _ := build("1", map[string]string{key: bad}, live)
				second, findings := build("1", map[string]string{key: bad, "keep-alive": "30"}, first)
				require.Len(t, keyFindings(findings, key), 1)
				assert.Equal(t, good1, second.ConfigMapValues[key])
				assert.Equal(t, live.Global.RealIP, second.Global.RealIP)
				assert.Equal(t, live.Global.LogFormat, second.Global.LogFormat)
			})
		})
	}
}
