package ngxconf_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portico-ingress/portico/pkg/ngxconf"
)

func TestQuote(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`a"b`, `"a\"b"`},
		{`a\b`, `"a\\b"`},
		{"a;b{c}d", `"a;b{c}d"`},
		{"line\nbreak", `"line\nbreak"`},
		{"", `""`},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, ngxconf.Quote(c.in), c.in)
	}
}

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []*ngxconf.Directive
		err  string
	}{
		{name: "simple", in: "a b c;", want: []*ngxconf.Directive{{Name: "a", Args: []string{"b", "c"}, Line: 1}}},
		{name: "block", in: "http {\n  server { listen 80; }\n}\n", want: []*ngxconf.Directive{{Name: "http", Line: 1, Block: []*ngxconf.Directive{
			{Name: "server", Line: 2, Block: []*ngxconf.Directive{{Name: "listen", Args: []string{"80"}, Line: 2}}}}}}},
		{name: "quotes and escapes", in: `set $a "x\"y;}" 'z\'w' "t\\u";`, want: []*ngxconf.Directive{{Name: "set", Args: []string{"$a", `x"y;}`, "z'w", `t\u`}, Line: 1}}},
		{name: "comment", in: "# c ; {\na 1; # trailing\n", want: []*ngxconf.Directive{{Name: "a", Args: []string{"1"}, Line: 2}}},
		{name: "if condition", in: `if ($scheme = "http") { return 308 x; }`, want: []*ngxconf.Directive{{Name: "if", Args: []string{"($scheme", "=", "http", ")"}, Line: 1,
			Block: []*ngxconf.Directive{{Name: "return", Args: []string{"308", "x"}, Line: 1}}}}},
		{name: "braced variable", in: "return 200 ${host}x;", want: []*ngxconf.Directive{{Name: "return", Args: []string{"200", "${host}x"}, Line: 1}}},
		{name: "unclosed block", in: "http {", err: "unexpected end of file"},
		{name: "extra close", in: "}", err: "unexpected \"}\""},
		{name: "missing semicolon", in: "a b", err: "unexpected end of file"},
		{name: "unterminated quote", in: `a "b;`, err: "quoted string"},
		{name: "text after quote", in: `a "b"c;`, err: "after quoted string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ngxconf.Parse(c.in)
			if c.err != "" {
				assert.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

// FuzzQuoteRoundTrip proves the quoting boundary itself: whatever the
// string, a quoted value reads back as exactly one argument equal to it.
func FuzzQuoteRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a", `"`, `\`, `\"`, "a;b}c{", "#x", "\n}\nserver {", `'`, "${x}", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tree, err := ngxconf.Parse("d " + ngxconf.Quote(s) + " " + ngxconf.Quote(s) + ";\nnext;")
		require.NoError(t, err)
		require.Len(t, tree, 2)
		assert.Equal(t, "d", tree[0].Name)
		assert.Equal(t, []string{s, s}, tree[0].Args)
		assert.Nil(t, tree[0].Block)
		assert.Equal(t, "next", tree[1].Name)
	})
}
