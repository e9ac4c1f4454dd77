// Package pcre turns a regular expression a user wrote (a use-regex
// Ingress path, a canary header pattern) into the PCRE2 pattern nginx
// runs, and refuses what is unsafe to run.
//
// The user's text never reaches nginx. Parse reads it with Go's
// regexp/syntax (Perl flags), checks the tree, and prints a PCRE pattern
// back from that tree, so nginx runs exactly the structure that was
// checked and both engines agree on what it matches. The printed pattern
// is for PCRE2 without UTF mode (nginx compiles location and if
// regexes with at most PCRE2_CASELESS), and it is written so that it
// does not depend on PCRE's newline convention: "." is printed as
// [^\x0a], "$" as \z, and the (?m) anchors as explicit look-arounds.
//
// What Parse refuses, and why:
//
//   - Named groups, (?P<x>...) and (?<x>...): nginx turns a named capture
//     into the nginx variable $x for every request that reaches the
//     regex, so a tenant could overwrite variables other configuration
//     relies on.
//   - Non-ASCII literals and classes that hold some but not all non-ASCII
//     characters: Go reads UTF-8 runes, nginx's PCRE reads bytes, so the
//     two would disagree. A class holding every rune from U+0080 up (such
//     as [^/] or .) is printed as holding every byte from \x80 to \xff.
//     The Unicode case-fold partners of s and k (U+017F, U+212A) that Go
//     adds in case-insensitive mode are dropped.
//   - Loops that can make a backtracking matcher take exponential time.
//     A loop is a repeat that can run its body more than once (*, +,
//     {n,}, {n,m} with m > 1, {n} with n > 1). The rule, checked on the
//     tree as RE2 parsed it (RE2 already turns (x|x)+ into (x)+ and
//     (ab|ac)+ into (a[bc])+):
//     (1) a loop's body must not match the empty string;
//     (2) inside a loop, the next character must decide every step. The
//     pattern is read as a position automaton (Glushkov: one state per
//     character node, counted repeats unrolled, and every distinct route
//     a backtracking matcher can take kept, so (a+)+ has two routes from
//     a back to a). From any position, two ways forward that both stay
//     within a common loop must not accept a common character.
//     A loop that passes has no state with two different cycles over the
//     same text, which is what exponential backtracking needs.
//     ([a-z]+/)+, (/[a-z]+)+ and (?:[0-9]{1,3}\.){3} pass; (a+)+, (a|aa)+,
//     (.*a){12}, (a{1,3})+, (\w+\s?)+ and (a*a*/)+ do not. The rule is
//     conservative: (a|[ab]c)+ is refused although it is not exponential.
//     A loop's exit may still overlap what follows it, as in
//     /(.*)/(.*)$, and a single-character loop may overlap its
//     neighbours, as in a*a*b: that costs polynomial time on a failing
//     match, which callers bound with WithMatchLimit.
//   - Sources longer than Options.MaxLength, control characters in the
//     source, and patterns nginx's PCRE could not compile (groups nested
//     too deep, compiled code too large once repeats are expanded), or
//     too large to check (over 10,000 character positions unrolled).
//
// RE2 caps repeat counts at 1000.
package pcre

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// DefaultMaxLength is the longest source Parse accepts when Options.MaxLength is 0.
const DefaultMaxLength = 1024

// Options say how a pattern will be used.
type Options struct {
	// MaxLength bounds the source in bytes; 0 means DefaultMaxLength.
	MaxLength int
	// CaseInsensitive says the pattern runs in a caseless context (an
	// nginx "location ~*"): it is parsed as if (?i) were set and printed
	// for that context.
	CaseInsensitive bool
}

// Pattern is a checked regular expression, ready for nginx.
type Pattern struct {
	text     string
	captures int
}

// PCRE returns the pattern text for PCRE2 without UTF mode, with no
// (*LIMIT...) prefix (callers add it with WithMatchLimit). It never
// contains a named group, a backreference, a NUL byte, a newline or
// another control character, or a byte above 0x7e: such bytes are written
// as \xhh. It holds backslashes and may hold braces, quotes and ";", so it
// still goes through the config's quoting function.
func (p *Pattern) PCRE() string { return p.text }

// Captures is the number of capture groups, for rewrite targets $1..$9.
func (p *Pattern) Captures() int { return p.captures }

// WithMatchLimit returns text prefixed with (*LIMIT_MATCH=n), so every
// caller bounds PCRE's work per match the same way (a pattern can lower
// PCRE2's limit, never raise it). An n below 1 is raised to 1: a limit
// that fails every match is safer than none.
func WithMatchLimit(text string, n int) string {
	if n < 1 {
		n = 1
	}
	return "(*LIMIT_MATCH=" + strconv.Itoa(n) + ")" + text
}

// Limits on what the printed pattern may need from nginx's PCRE2.
const (
	// maxNesting stays under PCRE2's default parentheses nest limit (250).
	maxNesting = 200
	// maxCompiledCost stays under what PCRE2 with a link size of 2 can
	// compile (64 KiB of code); cost over-estimates the code size.
	maxCompiledCost = 40000
	// quoteMax is how many bytes of user input an error quotes.
	quoteMax = 64
)

// Parse checks src and returns the pattern, or an error that says what is
// wrong and how to fix it. Errors are one line and quote at most 64 bytes
// of src; they are meant for Kubernetes Events.
func Parse(src string, opts Options) (*Pattern, error) {
	maxLen := opts.MaxLength
	if maxLen <= 0 {
		maxLen = DefaultMaxLength
	}
	if len(src) > maxLen {
		return nil, fmt.Errorf("regex is %d bytes long, more than the %d allowed; shorten it", len(src), maxLen)
	}
	for i := 0; i < len(src); i++ {
		if c := src[i]; c < 0x20 || c == 0x7f {
			return nil, fmt.Errorf(`regex holds the control character 0x%02x at byte %d; write it as \x%02x`, c, i, c)
		}
	}
	flags := syntax.Perl
	if opts.CaseInsensitive {
		flags |= syntax.FoldCase
	}
	re, err := syntax.Parse(src, flags)
	if err != nil {
		return nil, compileError(err)
	}
	if err := checkNames(re); err != nil {
		return nil, err
	}
	if err := checkASCII(re); err != nil {
		return nil, err
	}
	if err := checkLoops(re, src); err != nil {
		return nil, err
	}
	if cost(re) > maxCompiledCost {
		return nil, errors.New("regex is too large for nginx's PCRE once its repeats are expanded; use smaller repeat counts or fewer repeated groups")
	}
	pr := printer{caseless: opts.CaseInsensitive}
	text, prec := pr.print(re)
	if prec == precAlt {
		// A whole-pattern alternation keeps its meaning when a caller
		// puts something before or after the text.
		text = "(?:" + text + ")"
	}
	if nesting(text) > maxNesting {
		return nil, fmt.Errorf("regex nests groups more than %d deep (nginx's PCRE allows 250); flatten it", maxNesting)
	}
	return &Pattern{text: text, captures: re.MaxCap()}, nil
}

// compileError turns a regexp/syntax error into one line that quotes at
// most quoteMax bytes of the source.
func compileError(err error) error {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Errorf("regex does not compile: %s at %s", se.Code, quote(se.Expr))
	}
	return fmt.Errorf("regex does not compile: %w", err)
}

// checkNames refuses named groups: nginx sets the variable of that name
// for every request that reaches the regex.
func checkNames(re *syntax.Regexp) error {
	if re.Op == syntax.OpCapture && re.Name != "" {
		return fmt.Errorf("named group %s is not allowed: nginx would set the variable $%s for every request; use an unnamed group (...)", quote(re.Name), excerpt.Cut(re.Name, quoteMax))
	}
	for _, sub := range re.Sub {
		if err := checkNames(sub); err != nil {
			return err
		}
	}
	return nil
}

// checkASCII refuses literals and classes that nginx, matching bytes,
// would read differently from Go, which matches UTF-8 runes.
func checkASCII(re *syntax.Regexp) error {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if r >= utf8.RuneSelf {
				return fmt.Errorf("regex must be ASCII: %s is not (nginx matches bytes, not UTF-8 characters); match non-ASCII bytes with a class like [^/]", quote(string(r)))
			}
		}
	case syntax.OpCharClass:
		if _, ok := classSet(re.Rune); !ok {
			return fmt.Errorf("regex must be ASCII: the class %s holds some but not all non-ASCII characters (nginx matches bytes, not UTF-8 characters); keep classes ASCII or negate them like [^/]", quote(re.String()))
		}
	}
	for _, sub := range re.Sub {
		if err := checkASCII(sub); err != nil {
			return err
		}
	}
	return nil
}

// nesting is the deepest parenthesis nesting in printed text, which
// escapes every literal parenthesis.
func nesting(text string) int {
	depth, deepest := 0, 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\\':
			i++
		case '(':
			depth++
			deepest = max(deepest, depth)
		case ')':
			depth--
		}
	}
	return deepest
}

// quote quotes s for an error message, cut to quoteMax bytes on a rune
// boundary. Backslashes stay single, as the user wrote them; only text
// that is not printable UTF-8 gets Go's escapes.
func quote(s string) string {
	s = excerpt.Cut(s, quoteMax)
	for _, r := range s {
		if !unicode.IsPrint(r) && r != ' ' || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return `"` + s + `"`
}
