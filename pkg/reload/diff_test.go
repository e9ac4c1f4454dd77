package reload

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDiff(t *testing.T) {
	tests := []struct {
		name       string
		prev, next map[string]string
		want       Changes
	}{
		{name: "both empty", want: Changes{}},
		{
			name: "first config adds everything, sorted",
			next: map[string]string{"b.example.com": "1", "a.example.com": "2"},
			want: Changes{Added: []string{"a.example.com", "b.example.com"}},
		},
		{
			name: "everything removed",
			prev: map[string]string{"z": "1", "y": "2"},
			next: map[string]string{},
			want: Changes{Removed: []string{"y", "z"}},
		},
		{
			name: "mixed",
			prev: map[string]string{"keep": "h", "edit2": "x", "edit1": "x", "gone": "g"},
			next: map[string]string{"keep": "h", "edit2": "y", "edit1": "y", "new": "n"},
			want: Changes{Added: []string{"new"}, Removed: []string{"gone"}, Changed: []string{"edit1", "edit2"}},
		},
		{
			name: "identical",
			prev: map[string]string{"a": "1"},
			next: map[string]string{"a": "1"},
			want: Changes{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diff(tt.prev, tt.next)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.want.Empty(), got.Empty())
		})
	}
}
