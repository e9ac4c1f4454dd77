package controller

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/model"
)

// TestFindingMetrics: each build's findings replace the last ones, counted
// by severity and reason; resolved findings leave no series behind.
func TestFindingMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewFindingMetrics(reg)
	m.Findings([]model.Finding{
		{Object: model.ObjectRef{Kind: "Ingress", Namespace: "a", Name: "one"}, Reason: "ServiceNotFound", Severity: model.Served},
		{Object: model.ObjectRef{Kind: "Ingress", Namespace: "b", Name: "two"}, Reason: "ServiceNotFound", Severity: model.Served},
		{Object: model.ObjectRef{Kind: "Ingress", Namespace: "a", Name: "three"}, Reason: "HostConflict", Severity: model.NotServed},
	})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP portico_findings Findings of the last model build, by severity (Served, PartlyServed, NotServed) and reason; a finding that is resolved leaves.
# TYPE portico_findings gauge
portico_findings{reason="HostConflict",severity="NotServed"} 1
portico_findings{reason="ServiceNotFound",severity="Served"} 2
`), "portico_findings"))
	m.Findings([]model.Finding{{Reason: "HostConflict", Severity: model.NotServed}})
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP portico_findings Findings of the last model build, by severity (Served, PartlyServed, NotServed) and reason; a finding that is resolved leaves.
# TYPE portico_findings gauge
portico_findings{reason="HostConflict",severity="NotServed"} 1
`), "portico_findings"))
}
