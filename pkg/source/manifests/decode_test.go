package manifests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitDocuments(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []document
	}{
		{
			name: "single document",
			in:   "a: 1\n",
			want: []document{{line: 1, data: []byte("a: 1\n")}},
		},
		{
			name: "two documents",
			in:   "a: 1\n---\nb: 2\n",
			want: []document{{line: 1, data: []byte("a: 1\n")}, {line: 2, data: []byte("\nb: 2\n")}},
		},
		{
			name: "leading separator",
			in:   "---\na: 1\n",
			want: []document{{line: 1, data: []byte("")}, {line: 1, data: []byte("\na: 1\n")}},
		},
		{
			name: "comment after separator stays with the next document",
			in:   "a: 1\n--- # next\nb: 2",
			want: []document{{line: 1, data: []byte("a: 1\n")}, {line: 2, data: []byte(" # next\nb: 2")}},
		},
		{
			name: "CRLF line endings",
			in:   "a: 1\r\n---\r\nb: 2\r\n",
			want: []document{{line: 1, data: []byte("a: 1\r\n")}, {line: 2, data: []byte("\r\nb: 2\r\n")}},
		},
		{
			name: "dashes that are not a separator",
			in:   "a: ---\n---b: 1\n",
			want: []document{{line: 1, data: []byte("a: ---\n---b: 1\n")}},
		},
		{
			name: "empty file",
			in:   "",
			want: []document{{line: 1, data: []byte("")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitDocuments([]byte(tt.in))
			require.Len(t, got, len(tt.want))
			for i := range got {
				assert.Equal(t, tt.want[i].line, got[i].line, "document %d line", i)
				assert.Equal(t, string(tt.want[i].data), string(got[i].data), "document %d data", i)
			}
		})
	}
}

// TestYAMLErrorLines checks that syntax errors point at the line to fix in
// the file, whatever document they are in and whichever part of go-yaml
// (scanner or parser, which count lines differently) found them.
func TestYAMLErrorLines(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
	tests := []struct {
		name     string
		in       string
		wantLine int
		wantMsg  string
	}{
		{
			name:     "parser error in second document",
			in:       cm + "---\napiVersion: v1\nkind: Service\nspec:\n  ports:\n    - port: 80\n   name: http\n",
			wantLine: 11,
			wantMsg:  "invalid YAML: did not find expected key",
		},
		{
			name:     "scanner error after comments",
			in:       "# a comment\n\napiVersion: v1\nkind: ConfigMap\nmetadata: name: a\n",
			wantLine: 5,
			wantMsg:  "invalid YAML: mapping values are not allowed in this context",
		},
		{
			name:     "unclosed flow sequence before the next document",
			in:       "apiVersion: v1\nkind: ConfigMap\ndata:\n  list: [a, b\n\n---\n" + cm,
			wantLine: 4,
			wantMsg:  "invalid YAML:",
		},
		{
			name:     "error on the first line of the file",
			in:       "apiVersion: @v1\n",
			wantLine: 1,
			wantMsg:  "invalid YAML: found character that cannot start any token",
		},
		{
			name:     "error on the first line after a separator",
			in:       cm + "---\nkind: @x\n",
			wantLine: 6,
			wantMsg:  "invalid YAML: found character that cannot start any token",
		},
		{
			name:     "tab indentation",
			in:       cm + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: b\n",
			wantLine: 9,
			wantMsg:  "use spaces",
		},
		{
			name:     "sequence item where a key is expected",
			in:       "apiVersion: v1\nkind: Service\nspec:\n  ports:\n  - port: 80\n  - port: 81\n  type: ClusterIP\n  - port: 82\n",
			wantLine: 8,
			wantMsg:  "invalid YAML:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objects, warnings, fatal := parseFile(newDecoder(), "f.yaml", []byte(tt.in))
			require.NotNil(t, fatal, "want a syntax error")
			assert.Nil(t, objects)
			assert.Nil(t, warnings)
			assert.Equal(t, tt.wantLine, fatal.Line, fatal.Error())
			assert.Contains(t, fatal.Err.Error(), tt.wantMsg)
			assert.Equal(t, SeverityError, fatal.Severity)
		})
	}
}

func TestDuplicateKeyWarningLine(t *testing.T) {
	in := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  k: one\n  k: two\n"
	objects, warnings, fatal := parseFile(newDecoder(), "f.yaml", []byte(in))
	require.Nil(t, fatal)
	require.Len(t, objects, 2)
	require.Len(t, warnings, 1)
	assert.Equal(t, 12, warnings[0].Line)
	assert.Equal(t, SeverityWarning, warnings[0].Severity)
	assert.Contains(t, warnings[0].Err.Error(), `key "k" already set`)
}
