package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// twoRuns is what run.sh logs for two runs of the suite: go test -v output
// with its prefixes, other log lines in between, a fault missing from the
// second run.
const twoRuns = `# reliability-run 1
=== RUN   TestFaults/worker-kill
    faults_test.go:240: FAULT name=worker-kill requests=359 failed=1 outage_ms=0 total_failing_ms=0 recovery_ms=1 bound=failed<=8, outage<200ms result=pass
    faults_test.go:241: FAULT-DETAIL name=worker-kill failures=[EOF×1] spans=1 notes=[]
        {"level":"INFO","msg":"FAULT name=not-a-row"}
    faults_test.go:240: FAULT name=manifests-dir-swap requests=3246 failed=2824 outage_ms=8658 total_failing_ms=8658 recovery_ms=-1 bound=failed=0 | an edit served result=pending
# reliability-run 2
    faults_test.go:240: FAULT name=worker-kill requests=401 failed=0 outage_ms=0 total_failing_ms=0 recovery_ms=3 bound=failed<=8, outage<200ms result=pass
    faults_test.go:241: FAULT-DETAIL name=worker-kill failures=[] spans=0 notes=[second]
`

func TestParse(t *testing.T) {
	r, err := parse(strings.NewReader(twoRuns))
	require.NoError(t, err)
	assert.Equal(t, 2, r.runs)
	require.Len(t, r.faults, 2)
	wk := r.faults[0]
	assert.Equal(t, "worker-kill", wk.name)
	assert.Equal(t, result{requests: 359, failed: 1, outageMS: 0, failingMS: 0, recoveryMS: 1,
		bound: "failed<=8, outage<200ms", verdict: "pass", detail: "failures=[EOF×1] spans=1 notes=[]"}, wk.runs[1])
	assert.Equal(t, 401, wk.runs[2].requests)
	assert.Equal(t, "failures=[] spans=0 notes=[second]", wk.runs[2].detail)
	swap := r.faults[1]
	assert.Equal(t, -1, swap.runs[1].recoveryMS)
	assert.Equal(t, "failed=0 | an edit served", swap.runs[1].bound, "the bound runs to result=")
	assert.Equal(t, "pending", swap.runs[1].verdict)
}

func TestTable(t *testing.T) {
	r, err := parse(strings.NewReader(twoRuns))
	require.NoError(t, err)
	tbl := r.table()
	assert.Contains(t, tbl, "| worker-kill | 359 / 401 | 1 / 0 | 0 / 0 | 0 / 0 | 1 / 3 | pass / pass | failed<=8, outage<200ms |\n")
	assert.Contains(t, tbl, "| manifests-dir-swap | 3246 / – | 2824 / – | 8658 / – | 8658 / – | – / – | pending / – | failed=0 \\| an edit served |\n",
		"a run without the fault and a recovery that did not happen show –; a | in the bound is escaped")
	assert.Contains(t, r.details(), "- **worker-kill**: `failures=[] spans=0 notes=[second]`", "details of the last run")
}

func TestParseNothing(t *testing.T) {
	r, err := parse(strings.NewReader("ok  \tgithub.com/x\t1.0s\n"))
	require.NoError(t, err)
	assert.Empty(t, r.faults)
}
