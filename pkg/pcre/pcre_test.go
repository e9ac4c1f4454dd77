package pcre

import (
	"strings"
	"testing"
)

// accepted are sources Parse takes, with the exact PCRE text it must print.
var accepted = []struct {
	name, src string
	caseless  bool
	want      string
	captures  int
}{
	// Typical Ingress regex paths.
	{"prefix with rest", `/api(/|$)(.*)`, false, `/api(/|\z)([^\x0a]*)`, 2},
	{"rewrite-target shape", `/something(/|$)(.*)`, false, `/something(/|\z)([^\x0a]*)`, 2},
	{"any path", `/.*`, false, `/[^\x0a]*`, 0},
	{"captured rest", `/(.*)`, false, `/([^\x0a]*)`, 1},
	{"version", `/v[0-9]+/.*`, false, `/v[0-9]+/[^\x0a]*`, 0},
	{"alternation is factored by RE2", `/(api|admin)/.*`, false, `/(a(?:pi|dmin))/[^\x0a]*`, 1},
	{"suffix", `/foo/.*\.js$`, false, `/foo/[^\x0a]*\.js\z`, 0},
	{"class with hyphen", `/[a-z0-9-]+/items/[0-9]+`, false, `/[\-0-9a-z]+/items/[0-9]+`, 0},
	{"inline fold in a case-sensitive context", `/(?i)Foo`, false, `/(?i:foo)`, 0},
	{"anchored", `^/app/(.+)$`, false, `\A/app/([^\x0a]+)\z`, 1},
	{"extensions", `/static/.+\.(css|js|png)$`, false, `/static/[^\x0a]+\.(css|js|png)\z`, 1},

	// RE2 merges x|x into x before we see it: what nginx runs is (x)+, linear.
	{"x|x simplified by RE2", `(x|x)+$`, false, `(x)+\z`, 1},

	// Loops whose rounds are fixed by one character.
	{"round ends with slash", `([a-z]+/)+`, false, `([a-z]+/)+`, 1},
	{"round starts with slash", `(/[a-z]+)+`, false, `(/[a-z]+)+`, 1},
	{"dotted quad", `(?:[0-9]{1,3}\.){3}[0-9]{1,3}`, false, `(?:[0-9]{1,3}\.){3}[0-9]{1,3}`, 0},
	{"alternatives with distinct first characters", `(foo|bar)+`, false, `(foo|bar)+`, 1},
	{"RE2 factors ab|ac", `(ab|ac)+`, false, `(a[bc])+`, 1},
	{"fixed-length body", `(?:ab){2,}`, false, `(?:ab){2,}`, 0},

	// Case handling.
	{"caseless context, folded literal prints plain", `/(?i)Foo`, true, `/foo`, 0},
	{"caseless context, fold-closed class prints plain", `/Foo[a-z]`, true, `/foo[A-Za-z]`, 0},
	{"caseless context, case-sensitive literal", `/(?-i)Foo`, true, `/(?-i:Foo)`, 0},
	{"caseless context, case-sensitive class", `(?-i:[a-z])x`, true, `(?-i:[a-z])x`, 0},
	{"caseless context folds a negated class", `x[^a]`, true, `x[^Aa]`, 0},
	{"caseless context, case-sensitive negated class", `x(?-i)[^a]`, true, `x(?-i:[^a])`, 0},
	{"caseless context, digits need no wrap", `(?-i)/12`, true, `/12`, 0},
	{"kelvin sign dropped from a folded literal", `(?i)k`, false, `(?i:k)`, 0},
	{"kelvin sign under (?i) is K to RE2", `(?i)\x{212A}`, false, `(?i:k)`, 0},
	{"kelvin sign dropped from a folded class", `(?i)[k]`, false, `(?i:k)`, 0},
	// Both cases of one letter print as a caseless letter, as Go reads [Bb]
	// back (found by FuzzParse: printing was not a fixed point).
	{"both cases of one letter", `(aB|ab)`, false, `(a(?i:b))`, 1},
	{"both cases of one letter, caseless", `(?i)x[Bb]`, true, `xb`, 0},
	{"a case pair joins the caseless literal beside it", `(?i)[s]A`, false, `(?i:sa)`, 0},
	{"kelvin sign dropped from a folded negated class", `(?i)[^k]`, false, `[^Kk]`, 0},
	{"long s dropped", `(?i)[s-t]x`, false, `[STst](?i:x)`, 0},

	// Every operator.
	{"dot all", `(?s).`, false, `[\x00-\xff]`, 0},
	{"negated class covers high bytes", `[^/]+`, false, `[^/]+`, 0},
	{"perl classes", `\d\w\s`, false, `[0-9][0-9A-Z_a-z][\x09\x0a\x0c\x0d\x20]`, 0},
	{"negated perl class", `\D`, false, `[^0-9]`, 0},
	{"posix class", `[[:punct:]]`, false, "[!-/:-@\\[-\\`\\{-~]", 0},
	{"class punctuation is escaped", `[\]\-\\^\[]`, false, `[\-\[-\^]`, 0},
	{"multiline anchors", `(?m)^a$`, false, `(?:\A|(?<=\x0a))a(?=\x0a|\z)`, 0},
	{"word boundaries", `\bfoo\B`, false, `\bfoo\B`, 0},
	{"empty", ``, false, `(?:)`, 0},
	{"empty alternative", `a|`, false, `(?:a|(?:))`, 0},
	{"no match", `[^\x00-\x{10FFFF}]`, false, `(*FAIL)`, 0},
	{"top-level alternation is grouped", `a|b/`, false, `(?:a|b/)`, 0},
	{"lazy", `a{2,5}?b*?c+?d??`, false, `a{2,5}?b*?c+?d??`, 0},
	{"ungreedy flag", `(?U)a*`, false, `a*?`, 0},
	{"fixed count ignores laziness", `a{3}?`, false, `a{3}`, 0},
	{"unbounded count", `a{2,}`, false, `a{2,}`, 0},
	{"zero count", `(a){0}b`, false, `(a){0}b`, 1},
	{"quantified literal string is grouped", `(?:ab)*x`, false, `(?:ab)*x`, 0},
	{"quantified fold literal", `(?i:a)+`, false, `(?i:a)+`, 0},
	{"quantified assertion", `(?:^)?a`, false, `(?:\A)?a`, 0},
	{"quantified quantifier", `(?:a*)?`, false, `(?:a*)?`, 0},
	{"nested captures", `(((a)))`, false, `(((a)))`, 3},
	{"control characters and space escaped", `\x00\n\t \x7f`, false, `\x00\x0a\x09\x20\x7f`, 0},
	{"punctuation escaped", `\.\$\^\{\}\(\)\|\?\*\+\[\]\\\#"`, false, `\.\$\^\{\}\(\)\|\?\*\+\[\]\\\#\"`, 0},
	{"plain punctuation", `/_-~%@:,=!&<>'`, false, `/_-~%@:,=!&<>'`, 0},
	{"hex escape then digit", `\n1`, false, `\x0a1`, 0},
	{"flags group", `(?i:a)b`, false, `(?i:a)b`, 0},
	{"quoted text", `\Q(a)\E`, false, `\(a\)`, 0},
}

func TestParseAccepts(t *testing.T) {
	for _, tc := range accepted {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.src, Options{CaseInsensitive: tc.caseless})
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.src, err)
			}
			if got := p.PCRE(); got != tc.want {
				t.Errorf("Parse(%q).PCRE() = %q, want %q", tc.src, got, tc.want)
			}
			if got := p.Captures(); got != tc.captures {
				t.Errorf("Parse(%q).Captures() = %d, want %d", tc.src, got, tc.captures)
			}
		})
	}
}

// refused are sources Parse refuses, with part of the error it must give.
var refused = []struct {
	name, src string
	opts      Options
	err       string
}{
	{"named group", `(?P<portico_route>x)`, Options{}, `named group "portico_route" is not allowed: nginx would set the variable $portico_route`},
	{"named group, angle form", `/(?<x>y)`, Options{}, `named group "x" is not allowed`},
	{"named group inside", `a(b(?P<host>c))`, Options{}, `named group "host"`},

	{"non-ASCII literal", `/é`, Options{}, `regex must be ASCII: "é" is not`},
	{"non-ASCII in a class", `[a-é]`, Options{}, `regex must be ASCII: the class`},
	{"negated non-ASCII class", `[^é]`, Options{}, `holds some but not all non-ASCII characters`},
	{"unicode class", `\pL`, Options{}, `regex must be ASCII`},
	{"negated unicode class", `\PL`, Options{}, `regex must be ASCII`},
	{"kelvin sign written out", `[^\x{212A}]`, Options{}, `regex must be ASCII`},
	{"latin-1 escape", `\xe9`, Options{}, `regex must be ASCII`},

	{"nested plus", `(a+)+`, Options{}, `repeats something that can match the same text in more than one way ("(a+)+"); nginx could spend exponential time on it`},
	{"nested plus, no capture", `(?:a+)+b`, Options{}, `more than one way ("(?:a+)+")`},
	{"dot star then a, twelve times", `(.*a){12}`, Options{}, `more than one way ("(.*a){12}")`},
	{"a or aa", `(a|aa)+`, Options{}, `more than one way ("(a|aa)+")`},
	{"a or aa anchored", `^(a|aa)+$`, Options{}, `more than one way ("(a|aa)+")`},
	{"counted body", `(a{1,3})+`, Options{}, `more than one way ("(a{1,3})+")`},
	{"words and optional space", `(\w+\s?)+$`, Options{}, `more than one way ("(\w+\s?)+")`},
	{"two stars in one round", `(a*a*/)+`, Options{}, `more than one way`},
	{"overlapping alternatives", `(a|[ab]c)+`, Options{}, `more than one way`},
	{"plus in a star", `(?:a+)*`, Options{}, `more than one way`},
	{"alternatives with empty routes", `(?:(?:a?|b?)c)+`, Options{}, `more than one way`},
	{"caseless overlap", `(a|[A-Z]b)+`, Options{CaseInsensitive: true}, `more than one way`},
	{"star of star", `(x*)*`, Options{}, `can match the empty string ("(x*)*")`},
	{"empty body", `(?:)+`, Options{}, `can match the empty string`},
	{"assertion body", `(?:\b)+`, Options{}, `can match the empty string`},
	{"optional body, counted", `(a?){2}`, Options{}, `can match the empty string`},

	{"too long", strings.Repeat("a", 1025), Options{}, `regex is 1025 bytes long, more than the 1024 allowed`},
	{"custom length", "abcdef", Options{MaxLength: 5}, `more than the 5 allowed`},
	{"newline in source", "a\nb", Options{}, `control character 0x0a at byte 1; write it as \x0a`},
	{"NUL in source", "a\x00", Options{}, `control character 0x00`},
	{"DEL in source", "a\x7f", Options{}, `control character 0x7f`},
	{"does not compile", `a(b`, Options{}, `regex does not compile: missing closing )`},
	{"look-ahead", `a(?=b)`, Options{}, `regex does not compile`},
	{"backreference", `(a)\1`, Options{}, `regex does not compile`},
	{"repeat count over 1000", `a{1001}`, Options{}, `invalid repeat count`},
	{"invalid UTF-8", "a\xff", Options{}, `regex does not compile`},
	{"too large for PCRE", `(?:[a-z][0-9]/){1000}`, Options{}, `too large for nginx's PCRE`},
	{"too large to check", strings.Repeat(`.{1000}`, 11), Options{}, `too large to check`},
	{"too deep for PCRE", strings.Repeat("(", 201) + "a" + strings.Repeat(")", 201), Options{}, `nests groups more than 200 deep`},
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(tc.src, tc.opts)
			if err == nil {
				t.Fatalf("Parse(%q) = %q, want an error with %q", tc.src, p.PCRE(), tc.err)
			}
			if !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) error = %q, want it to contain %q", tc.src, err, tc.err)
			}
		})
	}
}

// TestErrorsAreShort checks that errors, which users read in Events, are
// one line and quote a bounded part of the source.
func TestErrorsAreShort(t *testing.T) {
	long := "(" + strings.Repeat("a|", 300) + "aa)+"
	for _, src := range []string{
		long,
		"(?P<" + strings.Repeat("n", 200) + ">x)",
		strings.Repeat("é", 300),
		"(" + strings.Repeat("x", 2000),
		strings.Repeat("[^é]", 100),
	} {
		_, err := Parse(src, Options{MaxLength: 4096})
		if err == nil {
			t.Fatalf("Parse(%.20q...) succeeded", src)
		}
		msg := err.Error()
		if strings.ContainsAny(msg, "\n\r") {
			t.Errorf("error has more than one line: %q", msg)
		}
		if len(msg) > 400 {
			t.Errorf("error is %d bytes: %q", len(msg), msg)
		}
	}
}

// TestFoldedOverlapIsMerged records that RE2 merges (a|A) under (?i)
// into one literal, so the loop is linear and accepted.
func TestFoldedOverlapIsMerged(t *testing.T) {
	p, err := Parse(`(?i:(a|A)+)`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.PCRE(), `((?i:a))+`; got != want {
		t.Errorf("PCRE() = %q, want %q", got, want)
	}
}

func TestWithMatchLimit(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want string
	}{
		{100000, `(*LIMIT_MATCH=100000)/a`},
		{1, `(*LIMIT_MATCH=1)/a`},
		{0, `(*LIMIT_MATCH=1)/a`},
		{-5, `(*LIMIT_MATCH=1)/a`},
	} {
		if got := WithMatchLimit("/a", tc.n); got != tc.want {
			t.Errorf("WithMatchLimit(/a, %d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestCaptureText(t *testing.T) {
	for _, tc := range []struct {
		src  string
		n    int
		want string
	}{
		{`(a|aa)+`, 1, `(a|aa)+`},
		{`x(?i)(y)(z{2,3}?)`, 2, `(z{2,3}?)`},
		{`[(](a)`, 1, `(a)`},
		{`\((b)*`, 1, `(b)*`},
		{`\Q(\E(c){2}`, 1, `(c){2}`},
		{`(?:(d))(?P<n>e)+`, 2, `(?P<n>e)+`},
		{`[^]()](f)`, 1, `(f)`},
		{`[[:alpha:](](g)`, 1, `(g)`},
		{`(h){x`, 1, `(h)`},
	} {
		got, ok := captureText(tc.src, tc.n)
		if !ok || got != tc.want {
			t.Errorf("captureText(%q, %d) = %q, %v; want %q", tc.src, tc.n, got, ok, tc.want)
		}
	}
}
