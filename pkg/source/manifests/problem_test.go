package manifests

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestProblemError(t *testing.T) {
	cause := errors.New("something is wrong")
	tests := []struct {
		name    string
		problem Problem
		want    string
	}{
		{
			name:    "error with line",
			problem: Problem{File: "examples/app.yaml", Line: 12, Err: cause},
			want:    "examples/app.yaml:12: something is wrong",
		},
		{
			name:    "warning with line",
			problem: Problem{File: "examples/app.yaml", Line: 3, Severity: SeverityWarning, Err: cause},
			want:    "examples/app.yaml:3: warning: something is wrong",
		},
		{
			name:    "whole file",
			problem: Problem{File: "examples", Err: cause},
			want:    "examples: something is wrong",
		},
		{
			name:    "no cause",
			problem: Problem{File: "a.yaml", Line: 1},
			want:    "a.yaml:1: unknown problem",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.problem.Error())
			if tt.problem.Err != nil {
				assert.ErrorIs(t, tt.problem, cause)
			}
		})
	}
}

func TestSeverityString(t *testing.T) {
	assert.Equal(t, "error", SeverityError.String())
	assert.Equal(t, "warning", SeverityWarning.String())
}
