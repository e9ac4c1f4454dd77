package pcre

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// differential are patterns, beyond the accepted table, whose printed
// form is run through real PCRE2 and compared with Go's regexp.
var differential = []struct {
	src      string
	caseless bool
}{
	{`a$`, false}, {`^`, false}, {`$`, false}, {`\Aa`, false}, {`a\z`, false},
	{`(?m)^$`, false}, {`(?m)^b`, false}, {`(?m)a$`, false}, {`(?m)^`, false}, {`(?m)$`, false},
	{`(?m:$)?a`, false}, {`(?m)^a$|^$`, false},
	{`\b`, false}, {`\B`, false}, {`\ba`, false}, {`a\b`, false}, {`\bfoo\b`, true},
	{`(a|ab)(c|bcd)(d*)`, false}, {`(a*?)(a*)`, false}, {`(a+?)b`, false}, {`x*`, false},
	{`(?U)(a+)(a*)`, false}, {`(a)|(b)`, false}, {`(a)?(b)`, false}, {`((a)|b)+`, false},
	{`[a-z]+`, true}, {`[^a-z]+`, true}, {`(?-i:[a-z]+)`, true}, {`(?i)[^k]+`, false},
	{`[^k]+`, true}, {`(?i)k`, false}, {`K`, true}, {`(?i)s+`, false}, {`[[:upper:]]+`, true},
	{`[[:upper:]]+`, false}, {`(?i)[[:upper:]]+`, false}, {`(?-i)a(?i)B`, true}, {`Foo1`, true},
	{`\W+`, false}, {`\S+`, false}, {`\D+`, false}, {`[^/]+`, false}, {`.+`, false},
	{`(?s).+`, false}, {`.`, false}, {`[^\n]+`, false}, {`^.$`, false}, {`^[^/]$`, false},
	{`\x00`, false}, {`\t`, false}, {` `, false}, {`%2F`, true}, {`%[0-9a-fA-F]{2}`, false},
	{`[\x{80}-\x{10FFFF}]+`, false}, {`[^\x00-\x7f]`, false}, {`[\x00-\x1f]`, false},
	{`(x){0}y`, false}, {`a{2}`, false}, {`a{2,}`, false}, {`a{1,2}?`, false}, {`(?:ab){1,2}`, false},
	{`[^\x00-\x{10FFFF}]`, false}, {`a|[^\x00-\x{10FFFF}]`, false}, {``, false},
	{`^/v[0-9]+/`, false}, {`([a-z]+/)+$`, false}, {`(/[a-z]+)+$`, false},
	{`(foo|bar)+`, true}, {`[\]\-\\^\[]+`, false}, {`[[:punct:]]+`, false},
	{`\.\$\^\{\}\(\)\|\?\*\+\[\]\\\#"'`, false}, {`/_-~%@:,=!&<>'`, false},
}

// subjects are what every pattern is matched against: paths, newlines,
// escapes, case, and high bytes that are not valid UTF-8 (Go reads
// each as U+FFFD, one byte wide, so byte offsets still agree).
var subjects = []string{
	"", "/", "a", "A", "aa", "ab", "abc", "abcd", "abcdd", "aab", "aaa", "aaaa", "b", "bcd",
	"/a/b", "/api", "/api/", "/api/v1", "/API/V1", "/apix", "/admin/x", "/Admin/",
	"/foo/bar.js", "/foo/bar.js\n", "/foo/\nbar.js", "/FOO/BAR.JS", "/Foo", "/something/x/y",
	"/v12/x", "/V1/x", "/x/items/12", "/static/a.css", "/static/.css", "/STATIC/A.PNG",
	"/app/", "/app/x", "/app/x\n", "a\n", "\n", "\na", "a\nb", "b\n", "\n\n",
	"/a%2Fb", "%2f", "/x\x80y", "\xff", "/\xc3(", "\x80\x80", "/\xfe/\xc0",
	"kK", "K", "k", "s", "S", "sS", "_", "a b", "a\tb", "\x00", "\x7f", "\x1f\x01",
	"1.2.3.4", "10.0.0.256.7", "foofoo", "barFOO", "fo", "abab", "ab/cd/", "/ab/cd",
	"xxxx", "y", "xy", "foo bar", "Foo1", "FOO1", "zz", ".$^{}()|?*+[]\\#\"'", "/_-~%@:,=!&<>'",
	"[]-\\^", "!a!",
}

// pcre2testPath finds pcre2test (Debian's pcre2-utils, the PCRE2 that
// nginx links), skipping the test without it unless PORTICO_REQUIRE_NGINX
// is set (make test sets it), so CI cannot pass by skipping.
func pcre2testPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("pcre2test")
	if err != nil {
		if os.Getenv("PORTICO_REQUIRE_NGINX") != "" {
			t.Fatalf("pcre2test not found (PORTICO_REQUIRE_NGINX is set); run hack/install-deps.sh: %v", err)
		}
		t.Skipf("pcre2test not found; run hack/install-deps.sh (make test does): %v", err)
	}
	return path
}

// TestAgreesWithPCRE2 prints every accepted pattern, runs it with real
// PCRE2 (interpreted and JIT, as nginx may) and checks that it matches
// the same subjects, with the same groups, as Go's regexp on the
// original source.
func TestAgreesWithPCRE2(t *testing.T) {
	var patterns []source
	for _, tc := range accepted {
		patterns = append(patterns, source{tc.src, tc.caseless})
	}
	for _, tc := range differential {
		patterns = append(patterns, source{tc.src, tc.caseless})
	}
	agreeWithPCRE2(t, patterns, subjects)
}

// TestGeneratedPatternsAgreeWithPCRE2 does the same for patterns built
// from random pieces (a fixed seed, so a failure repeats), to reach
// combinations nobody wrote down.
func TestGeneratedPatternsAgreeWithPCRE2(t *testing.T) {
	pieces := []string{
		"a", "b", "A", "/", ".", `\.`, "[a-c]", "[^/]", "[^a]", `\d`, `\w`, `\s`, `\W`, "(", ")",
		"(?:", "|", "*", "+", "?", "{2}", "{1,3}", "*?", "+?", "$", "^", "(?i)", "(?-i)", "(?m)",
		"(?s)", `\b`, `\B`, `\n`, "%", "k", "s", "[[:upper:]]", `[\x00-\x7f]`, "[^\\n]", "x", "-",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var patterns []source
	refusedCount := 0
	for len(patterns) < 400 {
		var b strings.Builder
		for range 1 + rng.IntN(10) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		src := source{b.String(), rng.IntN(3) == 0}
		if _, err := regexp.Compile(src.src); err != nil {
			continue
		}
		if _, err := Parse(src.src, Options{CaseInsensitive: src.caseless}); err != nil {
			refusedCount++
			continue
		}
		patterns = append(patterns, src)
	}
	t.Logf("%d generated patterns accepted, %d refused", len(patterns), refusedCount)
	subs := slices.Clone(subjects)
	letters := "aAbB/.\n kKsS%x-_\x80\xff"
	for range 40 {
		var b []byte
		for range rng.IntN(12) {
			b = append(b, letters[rng.IntN(len(letters))])
		}
		subs = append(subs, string(b))
	}
	agreeWithPCRE2(t, patterns, subs)
}

// source is a user regex and the context it runs in.
type source struct {
	src      string
	caseless bool
}

// agreeWithPCRE2 runs every pattern's printed form through pcre2test on
// every subject and fails where PCRE2's result (groups included) differs
// from Go's regexp on the source.
func agreeWithPCRE2(t *testing.T, patterns []source, subjects []string) {
	t.Helper()
	bin := pcre2testPath(t)
	for _, s := range subjects {
		for i, r := range s {
			if r >= utf8.RuneSelf && r != utf8.RuneError {
				t.Fatalf("subject %q holds valid UTF-8 at %d; Go and nginx disagree on those by design", s, i)
			}
		}
	}
	type block struct {
		src, line string
		want      [][]string // per subject, the result lines pcre2test should print
	}
	var blocks []block
	var in strings.Builder
	for _, jit := range []bool{false, true} {
		for _, pt := range patterns {
			p, err := Parse(pt.src, Options{CaseInsensitive: pt.caseless})
			if err != nil {
				t.Fatalf("Parse(%q): %v", pt.src, err)
			}
			goSrc := pt.src
			if pt.caseless {
				goSrc = "(?i)" + goSrc
			}
			re := regexp.MustCompile(goSrc)
			mods := []string{}
			if pt.caseless {
				mods = append(mods, "caseless")
			}
			if jit {
				mods = append(mods, "jit")
			}
			// The printed text never holds a raw '"', so it can delimit.
			b := block{src: pt.src, line: `"` + WithMatchLimit(p.PCRE(), 1000000) + `"` + strings.Join(mods, ",")}
			in.WriteString(b.line + "\n")
			for _, s := range subjects {
				in.WriteString(subjectLine(s) + "\n")
				b.want = append(b.want, goResult(re, s))
			}
			in.WriteString("\n")
			blocks = append(blocks, b)
		}
	}

	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-q", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pcre2test: %v\n%s", err, out)
	}
	lines := strings.Split(string(out), "\n")
	at := 0
	next := func() string {
		if at >= len(lines) {
			t.Fatalf("pcre2test output ended early")
		}
		at++
		return lines[at-1]
	}
	for _, b := range blocks {
		if got := next(); got != b.line {
			t.Fatalf("pcre2test output out of step: got %q, want pattern %q", got, b.line)
		}
		for i, s := range subjects {
			if got := next(); got != subjectLine(s) {
				if strings.HasPrefix(got, "Failed") {
					t.Fatalf("PCRE2 refused %s (from %q): %s", b.line, b.src, got)
				}
				t.Fatalf("pcre2test output out of step: got %q, want subject %q", got, subjectLine(s))
			}
			var got []string
			for at < len(lines) && lines[at] != "" && !strings.HasPrefix(lines[at], `\`) {
				got = append(got, next())
			}
			if strings.Join(got, "\n") != strings.Join(b.want[i], "\n") {
				t.Errorf("%q printed as %s on %q: PCRE2 says %q, Go says %q", b.src, b.line, s, got, b.want[i])
			}
		}
		if got := next(); got != "" {
			t.Fatalf("pcre2test output out of step: got %q after the subjects of %q", got, b.src)
		}
	}
}

// subjectLine writes s for pcre2test: every byte as \x{hh} (so spaces and
// escapes survive), or a lone backslash for the empty subject.
func subjectLine(s string) string {
	if s == "" {
		return `\`
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, `\x{%02x}`, s[i])
	}
	return b.String()
}

// goResult is what pcre2test prints for a match in the form Go's regexp
// gives it: "No match", or each group up to the last set one.
func goResult(re *regexp.Regexp, s string) []string {
	m := re.FindStringSubmatchIndex(s)
	if m == nil {
		return []string{"No match"}
	}
	last := 0
	for i := 0; i < len(m)/2; i++ {
		if m[2*i] >= 0 {
			last = i
		}
	}
	var out []string
	for i := 0; i <= last; i++ {
		if m[2*i] < 0 {
			out = append(out, fmt.Sprintf("%2d: <unset>", i))
			continue
		}
		out = append(out, fmt.Sprintf("%2d: %s", i, pcre2testText(s[m[2*i]:m[2*i+1]])))
	}
	return out
}

// pcre2testText escapes bytes the way pcre2test prints them without UTF mode.
func pcre2testText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; 0x20 <= c && c < 0x7f {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// TestLargestAcceptedCompiles checks the size and nesting limits against
// real PCRE2: for patterns that grow with a count, the largest count
// Parse accepts must still compile (nginx -t would fail otherwise, for
// every tenant), and the limits must not refuse modest counts.
func TestLargestAcceptedCompiles(t *testing.T) {
	bin := pcre2testPath(t)
	families := []struct {
		name     string
		src      func(n int) string
		atLeast  int
		caseless bool
	}{
		{"repeated group of classes", func(n int) string { return fmt.Sprintf(`(?:[a-z][0-9]/){%d}`, n) }, 100, false},
		{"repeated nested optionals", func(n int) string { return fmt.Sprintf(`(?:a(?:b(?:c)?)?){%d}`, n) }, 100, false},
		{"repeated alternation", func(n int) string { return fmt.Sprintf(`(?:(?:x|y)[0-9]){%d,}`, n) }, 100, false},
		{"repeated capture, caseless", func(n int) string { return fmt.Sprintf(`(/[a-z]+(?-i:_X)){1,%d}`, n) }, 100, true},
		{"counted class", func(n int) string { return fmt.Sprintf(`/[^/]{1,%d}/[0-9a-f]{%d}`, n, n) }, 1000, false},
		{"nested groups", func(n int) string { return strings.Repeat("(", n) + "a" + strings.Repeat(")", n) }, 100, false},
		{"nested quantified groups", func(n int) string { return strings.Repeat("(?:/", n) + "a" + strings.Repeat(")?", n) }, 60, false},
	}
	var in strings.Builder
	var lines []string
	for _, fam := range families {
		// The largest accepted count, by bisection: a larger count only adds.
		parse := func(n int) *Pattern {
			p, err := Parse(fam.src(n), Options{CaseInsensitive: fam.caseless, MaxLength: 4096})
			if err != nil {
				return nil
			}
			return p
		}
		lo, hi := 0, 1001 // parse(lo) succeeds (or lo is 0), parse(hi) fails
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; parse(mid) != nil {
				lo = mid
			} else {
				hi = mid
			}
		}
		n := lo
		if n == 0 {
			t.Fatalf("%s: Parse refuses even a count of 1: %q", fam.name, fam.src(1))
		}
		p := parse(n)
		t.Logf("%s: largest accepted count %d (%d bytes of PCRE)", fam.name, n, len(p.PCRE()))
		if n < fam.atLeast {
			t.Errorf("%s: largest accepted count is %d, want at least %d", fam.name, n, fam.atLeast)
		}
		mods := ""
		if fam.caseless {
			mods = "caseless"
		}
		line := `"` + WithMatchLimit(p.PCRE(), 100000) + `"` + mods
		lines = append(lines, line)
		in.WriteString(line + "\n\n")
	}
	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-q", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pcre2test: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "Failed") {
		t.Errorf("PCRE2 refused a pattern Parse accepted:\n%s", out)
	}
	if got := strings.Count(string(out), "\n\"("); got+1 < len(lines) {
		t.Errorf("pcre2test echoed %d patterns, want %d:\n%s", got+1, len(lines), out)
	}
}

// TestAcceptedLoopsStayCheap measures, with real PCRE2, the work
// (pcre2test's minimum match limit) that accepted loops take on subjects
// built to fail at the very end, where backtracking is worst: doubling
// the subject must not much more than double the work. (a*a*/)+, which
// passes a rule that only asks for a fixed last character, takes
// 10,937 steps for 5 rounds and 34 million for 10; Parse refuses it.
func TestAcceptedLoopsStayCheap(t *testing.T) {
	bin := pcre2testPath(t)
	cases := []struct {
		src     string
		subject func(k int) string
	}{
		{`^([a-z]+/)+$`, func(k int) string { return strings.Repeat("abcd/", k) + "!" }},
		{`^(/[a-z]+)+$`, func(k int) string { return strings.Repeat("/abcd", k) + "!" }},
		{`^(foo|bar)+$`, func(k int) string { return strings.Repeat("foobar", k) + "!" }},
		{`^(?:[a-z]+\.)+[a-z]+$`, func(k int) string { return strings.Repeat("ab.", k) + "!" }},
		{`^/v[0-9]+(/[a-z0-9-]+)*/?$`, func(k int) string { return "/v1" + strings.Repeat("/ab-1", k) + "!" }},
		{`^(\w+/)*\w+\.(js|css)$`, func(k int) string { return strings.Repeat("ab/", k) + "ab.jsx" }},
		{`^(?:[0-9]{1,3}\.){3}[0-9]{1,3}$`, func(k int) string { return strings.Repeat("1", k) + ".1.1.1!" }},
	}
	const k = 20
	var in strings.Builder
	for _, tc := range cases {
		p, err := Parse(tc.src, Options{})
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.src, err)
		}
		// Without PCRE's own shortcuts, so the rule alone keeps it cheap.
		fmt.Fprintf(&in, "\"%s\"no_start_optimize,no_auto_possess\n%s\\=find_limits\n%s\\=find_limits\n\n",
			p.PCRE(), subjectLine(tc.subject(k)), subjectLine(tc.subject(2*k)))
	}
	file := filepath.Join(t.TempDir(), "input")
	if err := os.WriteFile(file, []byte(in.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-q", file).CombinedOutput()
	if err != nil {
		t.Fatalf("pcre2test: %v\n%s", err, out)
	}
	var limits []int
	for _, line := range strings.Split(string(out), "\n") {
		var n int
		if _, err := fmt.Sscanf(line, "Minimum match limit = %d", &n); err == nil {
			limits = append(limits, n)
		}
	}
	if len(limits) != 2*len(cases) {
		t.Fatalf("found %d match limits in pcre2test's output, want %d:\n%s", len(limits), 2*len(cases), out)
	}
	for i, tc := range cases {
		small, large := limits[2*i], limits[2*i+1]
		t.Logf("%s: %d steps for %d rounds, %d for %d", tc.src, small, k, large, 2*k)
		if large > 3*small+10 {
			t.Errorf("%s: %d steps for %d rounds but %d for %d: more than linear", tc.src, small, k, large, 2*k)
		}
	}
}
