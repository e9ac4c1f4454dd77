package excerpt

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestCut(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{name: "short", in: "abc", max: 3, want: "abc"},
		{name: "cut", in: "abcdef", max: 3, want: "abc..."},
		{name: "rune boundary", in: "aé", max: 2, want: "a..."},
		{name: "all one rune", in: "日本", max: 2, want: "..."},
		{name: "empty", in: "", max: 0, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Cut(tc.in, tc.max))
		})
	}
	assert.Equal(t, strings.Repeat("x", Short)+"...", Of(strings.Repeat("x", 100)))
}

func TestWithin(t *testing.T) {
	assert.Equal(t, "abcdef", Within("abcdef", 6))
	assert.Equal(t, "abc...", Within("abcdefg", 6))
	assert.Equal(t, "aé...", Within("aé日本", 6))
	assert.Equal(t, "a...", Within("aé日本", 5))
}

// FuzzCut: the result is valid UTF-8 when the input is, never longer than
// max plus the mark, and a prefix of the input.
func FuzzCut(f *testing.F) {
	f.Add("aé日本語", 4)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 4 || max > 1<<16 {
			return
		}
		got := Within(s, max)
		if len(got) > max {
			t.Fatalf("Within(%q, %d) = %q: longer than %d", s, max, got, max)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Within(%q, %d) = %q: invalid UTF-8", s, max, got)
		}
		if !strings.HasPrefix(s, strings.TrimSuffix(got, ellipsis)) {
			t.Fatalf("Within(%q, %d) = %q: not a prefix", s, max, got)
		}
	})
}
