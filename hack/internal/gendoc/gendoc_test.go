package gendoc

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReplace(t *testing.T) {
	const begin, end = "<!-- x:begin -->", "<!-- x:end -->"
	tests := []struct {
		name, page, want, wantErr string
	}{
		{name: "replaces between the markers",
			page: "# Title\n\nprose\n\n" + begin + "\nold table\n" + end + "\n\nafter\n",
			want: "# Title\n\nprose\n\n" + begin + "\nnew table\n" + end + "\n\nafter\n"},
		{name: "no markers", page: "# Title\n", wantErr: "not found in order"},
		{name: "markers out of order", page: end + "\n" + begin + "\n", wantErr: "not found in order"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "page.md")
			require.NoError(t, os.WriteFile(path, []byte(tt.page), 0o644))
			err := Replace(path, begin, end, "new table\n")
			got, readErr := os.ReadFile(path)
			require.NoError(t, readErr)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Equal(t, tt.page, string(got), "the page is left as it was")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(got))
		})
	}
}
