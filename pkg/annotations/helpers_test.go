package annotations

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// problemKeys returns "Kind key" for each problem, in order, and checks
// that messages stay on one line.
func problemKeys(t *testing.T, problems []Problem) []string {
	t.Helper()
	var got []string
	for _, pr := range problems {
		got = append(got, string(pr.Kind)+" "+pr.Key)
		assert.NotContains(t, pr.Message, "\n", "messages stay on one line")
		assert.NotContains(t, pr.Message, "\r", "messages stay on one line")
	}
	return got
}

// groupCase is a set of annotations, what one group of the parsed Set must
// then hold, and the problems ("Kind key") reported.
type groupCase[T any] struct {
	name     string
	in       map[string]string
	want     T
	problems []string
}

// runGroupCases parses each case and compares the group group picks.
func runGroupCases[T any](t *testing.T, cases []groupCase[T], group func(Set) T) {
	t.Helper()
	p := NewParser("")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set, problems := p.Parse(c.in)
			assert.Equal(t, c.want, group(set))
			assert.Equal(t, c.problems, problemKeys(t, problems))
		})
	}
}

// valueCase lists, for one key (without the prefix), values that parse to
// a group value and values that are refused.
type valueCase[T any] struct {
	key   string
	valid map[string]T
	bad   []string
}

// runValueCases checks each key alone: valid values give their group value
// and no problem, bad ones one InvalidAnnotation and nothing stored.
func runValueCases[T any](t *testing.T, cases []valueCase[T], group func(Set) T) {
	t.Helper()
	p := NewParser("")
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			key := DefaultPrefix + "/" + tc.key
			for v, want := range tc.valid {
				set, problems := p.Parse(map[string]string{key: v})
				assert.Empty(t, problems, "%q", v)
				assert.Equal(t, want, group(set), "%q", v)
			}
			var zero T
			for _, v := range tc.bad {
				set, problems := p.Parse(map[string]string{key: v})
				assert.Equal(t, []string{"InvalidAnnotation " + key}, problemKeys(t, problems), "%q", v)
				assert.Equal(t, zero, group(set), "%q is not stored", v)
			}
		})
	}
}
