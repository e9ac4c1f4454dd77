package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// ingressNginxFormat is ingress-nginx's default log-format-upstream.
const ingressNginxFormat = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" ` +
	`"$http_user_agent" $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] ` +
	`$upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id`

func TestCheckLogFormat(t *testing.T) {
	for _, c := range []struct {
		name, format, err string
	}{
		{"ingress-nginx default", ingressNginxFormat, ""},
		{"Portico default", model.DefaultLogFormat, ""},
		{"per-location variables", "$namespace $ingress_name $service_name $service_port $the_real_ip $req_id", ""},
		{"trace context", "$trace_id $traceparent ${trace_id}", ""},
		{"Portico's internal trace variable", "$portico_traceparent_in", "unknown variable $portico_traceparent_in"},
		{"families", "$http_x_forwarded_for $sent_http_content_type $upstream_http_server $cookie_sid $arg_page", ""},
		{"braces", "${status}ms ${request_time}s", ""},
		{"upper case", "$HTTP_X_TRACE $Status", ""},
		{"JSON", `{"time": "$time_iso8601", "ns": "$namespace", "status": $status}`, ""},
		{"no variables", "plain text", ""},
		{"unknown", "$remote_addr $bogus_var", "unknown variable $bogus_var"},
		{"Portico's internal", "$portico_route", "unknown variable $portico_route"},
		{"family without a name", "$http_", "unknown variable $http_"},
		{"lone dollar", "cost $ 5", "without a variable name"},
		{"trailing dollar", "$status $", "without a variable name"},
		{"unclosed brace", "${status", "unclosed"},
		{"empty braces", "${}", "without a variable name"},
		{"empty", " ", "between 1 and 4096"},
		{"too long", string(make([]byte, 4097)), "between 1 and 4096"},
		{"newline", "$status\n$status", "control characters"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := model.CheckLogFormat(c.format)
			if c.err == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.err)
		})
	}
}

// TestLogFormatKeepsLast: a ConfigMap edit whose format names an unknown
// variable is a finding, and the live format stays (the default without one).
func TestLogFormatKeepsLast(t *testing.T) {
	const live = "$namespace $status"
	for _, c := range []struct {
		name, format, last, want, message string
		findings                          int
	}{
		{"accepted", "$service_name $status", live, "$service_name $status", "", 0},
		{"refused, live kept", "$status $nope", live, live, "keeping the last accepted value", 1},
		{"refused, no live format", "$status $nope", "", model.DefaultLogFormat, "keeping the default", 1},
		{"refused, live one bad too", "$status $nope", "$also_bad", model.DefaultLogFormat, "keeping the default", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			snap := &snapshot.Snapshot{ConfigMaps: []*corev1.ConfigMap{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico"},
				Data:       map[string]string{"log-format-upstream": c.format},
			}}}
			opts := model.Options{ControllerClass: model.DefaultControllerClass, IngressClass: model.DefaultIngressClass,
				ConfigMap: "ops/portico", Global: model.DefaultGlobal(),
				LastConfigMap: snap.ConfigMaps[0], LastConfigMapValues: map[string]string{"log-format-upstream": c.last}}
			if c.last == "" {
				opts.LastConfigMapValues = nil
			}
			cfg, findings := model.Build(snap, opts)
			assert.Equal(t, c.want, cfg.Global.LogFormat)
			require.Len(t, findings, c.findings)
			if c.findings > 0 {
				assert.Equal(t, model.ReasonInvalidOption, findings[0].Reason)
				assert.Contains(t, findings[0].Message, "$nope")
				assert.Contains(t, findings[0].Message, c.message)
			}
		})
	}
}

func TestErrorLogLevel(t *testing.T) {
	for _, c := range []struct {
		value, want string
		refused     bool
	}{
		{"warn", "warn", false},
		{"debug", "debug", false},
		{"emerg", "emerg", false},
		{"WARN", "notice", true},
		{"warning", "notice", true},
		{"warn; load_module /tmp/x.so", "notice", true},
		{"", "notice", true},
	} {
		t.Run(c.value, func(t *testing.T) {
			snap := &snapshot.Snapshot{ConfigMaps: []*corev1.ConfigMap{{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico"},
				Data:       map[string]string{"error-log-level": c.value},
			}}}
			opts := model.Options{ControllerClass: model.DefaultControllerClass, IngressClass: model.DefaultIngressClass,
				ConfigMap: "ops/portico", Global: model.DefaultGlobal()}
			cfg, findings := model.Build(snap, opts)
			assert.Equal(t, c.want, cfg.Global.ErrorLogLevel)
			if c.refused {
				require.Len(t, findings, 1)
				assert.Equal(t, model.ReasonInvalidOption, findings[0].Reason)
				assert.Contains(t, findings[0].Message, "error-log-level")
			} else {
				assert.Empty(t, findings)
			}
		})
	}
}
