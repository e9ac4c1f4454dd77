package nginx

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkApply measures a full Apply (write, nginx -t, rename, SIGHUP,
// verify) of a small configuration against a real nginx, and reports the
// reload part (signal until the new generation is served) and the test part.
func BenchmarkApply(b *testing.B) {
	e := newEnv(b)
	e.start(b)
	ctx := context.Background()
	var gen uint64 = 1
	var reload, test time.Duration
	n := 0
	for b.Loop() {
		gen++
		res, err := e.drv.Apply(ctx, e.conf(gen, ""), nil, gen)
		require.NoError(b, err)
		reload += res.Reload
		test += res.Test
		n++
	}
	b.ReportMetric(float64(reload.Microseconds())/1000/float64(n), "ms/reload")
	b.ReportMetric(float64(test.Microseconds())/1000/float64(n), "ms/test")
}
