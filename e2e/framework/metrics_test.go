//go:build linux

package framework

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMetrics(t *testing.T) {
	page := `# HELP portico_nginx_up 1 when nginx runs.
# TYPE portico_nginx_up gauge
portico_nginx_up 1
portico_reloads_total{result="success"} 3
portico_reloads_total{result="invalid",x="a b} \"c\""} 1 1712345678000

`
	got, err := ParseMetrics([]byte(page))
	require.NoError(t, err)
	assert.Equal(t, []Series{
		{Name: "portico_nginx_up", Value: 1},
		{Name: "portico_reloads_total", Labels: `result="success"`, Value: 3},
		{Name: "portico_reloads_total", Labels: `result="invalid",x="a b} \"c\""`, Value: 1},
	}, got)
	assert.True(t, hasLabels(got[1].Labels, map[string]string{"result": "success"}))

	for _, bad := range []string{"portico_nginx_up one\n", "portico_nginx_up\n", `x{a="b" 1` + "\n"} {
		_, err = ParseMetrics([]byte(bad))
		assert.ErrorContains(t, err, "metric line", "%q", bad)
	}
}
