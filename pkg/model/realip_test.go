package model_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// realIPConfigMap is the options ConfigMap ops/portico with UID "u"+uid.
func realIPConfigMap(uid string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "portico", UID: types.UID("u" + uid)}, Data: data}
}

// TestRealIPOptions checks each client-address key: the values accepted and
// what Build derives, the values refused, and that a refused value keeps
// the live ConfigMap's value (not the default) when there is one, so that a
// typo neither widens nor drops who is trusted.
func TestRealIPOptions(t *testing.T) {
	cases := []struct {
		name     string
		data     map[string]string
		last     map[string]string
		lastUID  string
		wantFrom []string
		wantIP   *model.RealIP
		findings int
	}{
		{name: "off by default", data: map[string]string{}},
		{name: "forwarded headers", data: map[string]string{"use-forwarded-headers": "true", "proxy-real-ip-cidr": "10.1.2.3/16, 2001:db8::1/32 ,192.0.2.1"},
			wantFrom: []string{"10.1.0.0/16", "2001:db8::/32", "192.0.2.1/32"},
			wantIP:   &model.RealIP{Header: "X-Forwarded-For", From: []string{"10.1.0.0/16", "2001:db8::/32", "192.0.2.1/32"}, TrustForwarded: true, PeerVariable: "$realip_remote_addr"}},
		{name: "enable-real-ip with another header", data: map[string]string{"enable-real-ip": "true", "forwarded-for-header": "CF-Connecting-IP", "compute-full-forwarded-for": "true", "proxy-real-ip-cidr": "10.0.0.0/8"},
			wantFrom: []string{"10.0.0.0/8"},
			wantIP:   &model.RealIP{Header: "CF-Connecting-IP", From: []string{"10.0.0.0/8"}, FullForwardedFor: "$http_cf_connecting_ip", PeerVariable: "$realip_remote_addr"}},
		{name: "proxy protocol", data: map[string]string{"use-proxy-protocol": "true", "proxy-real-ip-cidr": "10.0.0.0/8", "proxy-protocol-header-timeout": "1m30s"},
			wantFrom: []string{"10.0.0.0/8"},
			wantIP:   &model.RealIP{Header: "proxy_protocol", From: []string{"10.0.0.0/8"}, PeerVariable: "$proxy_protocol_addr"}},
		{name: "networks without an option trust nothing", data: map[string]string{"proxy-real-ip-cidr": "10.0.0.0/8"}, wantFrom: []string{"10.0.0.0/8"}},
		{name: "an option without networks trusts nothing", data: map[string]string{"use-forwarded-headers": "true"}, findings: 1},
		{name: "bad networks", data: map[string]string{"enable-real-ip": "true", "proxy-real-ip-cidr": "10.0.0.0/8 192.0.2.0/24"}, findings: 2},
		{name: "zone", data: map[string]string{"enable-real-ip": "true", "proxy-real-ip-cidr": "fe80::1%eth0"}, findings: 2},
		{name: "injection in the header", data: map[string]string{"enable-real-ip": "true", "proxy-real-ip-cidr": "10.0.0.0/8", "forwarded-for-header": "X-F;\nset_real_ip_from 0.0.0.0/0"},
			wantFrom: []string{"10.0.0.0/8"}, findings: 1,
			wantIP: &model.RealIP{Header: "X-Forwarded-For", From: []string{"10.0.0.0/8"}, PeerVariable: "$realip_remote_addr"}},
		{name: "bad booleans and timeout", data: map[string]string{"use-forwarded-headers": "yes please", "use-proxy-protocol": "on", "proxy-protocol-header-timeout": "-1"}, findings: 3},
		{name: "a bad value keeps the live one", data: map[string]string{"use-forwarded-headers": "true", "proxy-real-ip-cidr": "10.0.0.0/8; allow all"},
			last: map[string]string{"use-forwarded-headers": "true", "proxy-real-ip-cidr": "192.0.2.0/24"}, findings: 1,
			wantFrom: []string{"192.0.2.0/24"},
			wantIP:   &model.RealIP{Header: "X-Forwarded-For", From: []string{"192.0.2.0/24"}, TrustForwarded: true, PeerVariable: "$realip_remote_addr"}},
		{name: "but not another object's", data: map[string]string{"use-forwarded-headers": "true", "proxy-real-ip-cidr": "nope"},
			last: map[string]string{"proxy-real-ip-cidr": "192.0.2.0/24"}, lastUID: "2", findings: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := model.Options{ControllerClass: model.DefaultControllerClass, IngressClass: model.DefaultIngressClass,
				ConfigMap: "ops/portico", Global: model.DefaultGlobal()}
			if tc.last != nil {
				uid := tc.lastUID
				if uid == "" {
					uid = "1"
				}
				opts.LastConfigMap = realIPConfigMap(uid, tc.last)
				opts.LastConfigMapValues = tc.last // the live config applied them all
			}
			snap := &snapshot.Snapshot{ConfigMaps: []*corev1.ConfigMap{realIPConfigMap("1", tc.data)}}
			cfg, findings := model.Build(snap, opts)
			require.Len(t, findings, tc.findings, "%v", findings)
			assert.Equal(t, tc.wantFrom, cfg.Global.RealIPFrom)
			assert.Equal(t, tc.wantIP, cfg.Global.RealIP)
			if tc.wantIP != nil && tc.wantIP.Header == "proxy_protocol" {
				assert.Equal(t, "80 proxy_protocol", cfg.Global.HTTPListen)
				assert.Equal(t, "443 proxy_protocol", cfg.Global.HTTPSListen)
			} else {
				assert.Equal(t, "80", cfg.Global.HTTPListen)
			}
		})
	}
}
