package pcre

import (
	"fmt"
	"math/bits"
	"regexp/syntax"
	"strconv"
	"strings"
	"unicode/utf8"
)

// byteSet is a set of bytes: what one character node of the pattern can
// match in nginx, which matches bytes.
type byteSet [4]uint64

func (s *byteSet) add(b byte) { s[b>>6] |= 1 << (b & 63) }

func (s *byteSet) addRange(lo, hi int) {
	for c := lo; c <= hi; c++ {
		s.add(byte(c))
	}
}

func (s byteSet) has(b byte) bool { return s[b>>6]&(1<<(b&63)) != 0 }

func (s byteSet) intersects(t byteSet) bool {
	return s[0]&t[0]|s[1]&t[1]|s[2]&t[2]|s[3]&t[3] != 0
}

func (s *byteSet) union(t byteSet) {
	for i := range s {
		s[i] |= t[i]
	}
}

func (s byteSet) count() int {
	return bits.OnesCount64(s[0]) + bits.OnesCount64(s[1]) + bits.OnesCount64(s[2]) + bits.OnesCount64(s[3])
}

func (s byteSet) complement() byteSet { return byteSet{^s[0], ^s[1], ^s[2], ^s[3]} }

// ranges lists the set as inclusive byte ranges, lowest first.
func (s byteSet) ranges() [][2]byte {
	var out [][2]byte
	for c := 0; c < 256; c++ {
		if !s.has(byte(c)) {
			continue
		}
		lo := c
		for c+1 < 256 && s.has(byte(c+1)) {
			c++
		}
		out = append(out, [2]byte{byte(lo), byte(c)})
	}
	return out
}

// foldClosed reports whether the set holds both cases of every ASCII
// letter it holds, so PCRE's caseless mode would not change it.
func (s byteSet) foldClosed() bool {
	for c := byte('a'); c <= 'z'; c++ {
		if s.has(c) != s.has(c-'a'+'A') {
			return false
		}
	}
	return true
}

// foldPartners are the non-ASCII runes Unicode case folding ties to an
// ASCII letter; Go adds them to (?i) classes and literals.
var foldPartners = [...]struct {
	r     rune
	lower byte
}{{0x017F, 's'}, {0x212A, 'k'}}

// classSet turns a Go character class (sorted rune ranges) into the bytes
// nginx should match. It fails when the class holds some but not all
// non-ASCII runes; a fold partner (U+017F, U+212A) counts as neither when
// it is in the class exactly when its ASCII letter is (as (?i) makes it).
func classSet(ranges []rune) (byteSet, bool) {
	var s byteSet
	in := func(r rune) bool {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= r && r <= ranges[i+1] {
				return true
			}
		}
		return false
	}
	nonASCII := 0
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo < utf8.RuneSelf {
			s.addRange(int(lo), int(min(hi, utf8.RuneSelf-1)))
		}
		if hi >= utf8.RuneSelf {
			nonASCII += int(hi - max(lo, utf8.RuneSelf) + 1)
		}
	}
	all := int(utf8.MaxRune - utf8.RuneSelf + 1)
	for _, fp := range foldPartners {
		upper := fp.lower - 'a' + 'A'
		member := in(fp.r)
		if member == s.has(fp.lower) && member == s.has(upper) {
			all--
			if member {
				nonASCII--
			}
		}
	}
	switch nonASCII {
	case 0:
		return s, true
	case all:
		s.addRange(0x80, 0xff)
		return s, true
	}
	return s, false
}

// literalSet is what one rune of a literal matches: both cases when it folds.
func literalSet(r rune, fold bool) byteSet {
	var s byteSet
	c := byte(r)
	s.add(c)
	if fold {
		switch {
		case 'a' <= c && c <= 'z':
			s.add(c - 'a' + 'A')
		case 'A' <= c && c <= 'Z':
			s.add(c - 'A' + 'a')
		}
	}
	return s
}

// anyNotNL is "." without (?s): every byte but a newline.
func anyNotNL() byteSet {
	var s byteSet
	s.addRange(0, 0xff)
	s[0] &^= 1 << '\n'
	return s
}

// anyByte is (?s:.): every byte.
func anyByte() byteSet {
	var s byteSet
	s.addRange(0, 0xff)
	return s
}

// prec says how tightly a printed piece binds, for parenthesising.
type prec int

const (
	precAtom   prec = iota // takes a quantifier as it is: a, [a-z], (...)
	precRepeat             // a quantified atom: another quantifier needs a group
	precConcat             // a sequence, or an assertion that takes no quantifier
	precAlt                // an alternation: a group in any context
)

// printer writes the PCRE form of a checked tree.
type printer struct {
	// caseless is the context the pattern runs in (PCRE2_CASELESS).
	caseless bool
}

// print returns the PCRE text of re and how tightly it binds.
func (p printer) print(re *syntax.Regexp) (string, prec) {
	switch re.Op {
	case syntax.OpNoMatch:
		return "(*FAIL)", precConcat
	case syntax.OpEmptyMatch:
		return "(?:)", precAtom
	case syntax.OpLiteral:
		return p.literal(re)
	case syntax.OpCharClass:
		s, _ := classSet(re.Rune)
		return p.class(s)
	case syntax.OpAnyCharNotNL:
		return p.class(anyNotNL())
	case syntax.OpAnyChar:
		return p.class(anyByte())
	case syntax.OpBeginLine:
		// PCRE's (?m:^) does not match after a newline that ends the
		// subject; Go's does.
		return `(?:\A|(?<=\x0a))`, precAtom
	case syntax.OpEndLine:
		return `(?=\x0a|\z)`, precConcat
	case syntax.OpBeginText:
		return `\A`, precConcat
	case syntax.OpEndText:
		// PCRE's $ also matches before a final newline; Go's does not.
		return `\z`, precConcat
	case syntax.OpWordBoundary:
		return `\b`, precConcat
	case syntax.OpNoWordBoundary:
		return `\B`, precConcat
	case syntax.OpCapture:
		s, _ := p.print(re.Sub[0])
		return "(" + s + ")", precAtom
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		return p.repeat(re), precRepeat
	case syntax.OpConcat:
		switch len(re.Sub) {
		case 0:
			return "(?:)", precAtom
		case 1:
			return p.print(re.Sub[0])
		}
		var b strings.Builder
		for _, sub := range foldedRuns(re.Sub) {
			s, pr := p.print(sub)
			if pr == precAlt {
				s = "(?:" + s + ")"
			}
			b.WriteString(s)
		}
		return b.String(), precConcat
	case syntax.OpAlternate:
		switch len(re.Sub) {
		case 0:
			return "(*FAIL)", precConcat
		case 1:
			return p.print(re.Sub[0])
		}
		parts := make([]string, len(re.Sub))
		for i, sub := range re.Sub {
			parts[i], _ = p.print(sub)
		}
		return strings.Join(parts, "|"), precAlt
	}
	// regexp/syntax has no other operators; a new one must not pass silently.
	panic(fmt.Sprintf("pcre: unknown regexp/syntax operator %v", re.Op))
}

// repeat prints a quantified node, grouping the body unless it is an atom.
func (p printer) repeat(re *syntax.Regexp) string {
	s, pr := p.print(re.Sub[0])
	if pr != precAtom {
		s = "(?:" + s + ")"
	}
	switch re.Op {
	case syntax.OpStar:
		s += "*"
	case syntax.OpPlus:
		s += "+"
	case syntax.OpQuest:
		s += "?"
	default:
		switch {
		case re.Max == -1:
			s += "{" + strconv.Itoa(re.Min) + ",}"
		case re.Min == re.Max:
			// Greedy and lazy are the same for a fixed count.
			return s + "{" + strconv.Itoa(re.Min) + "}"
		default:
			s += "{" + strconv.Itoa(re.Min) + "," + strconv.Itoa(re.Max) + "}"
		}
	}
	if re.Flags&syntax.NonGreedy != 0 {
		s += "?"
	}
	return s
}

// literal prints a run of literal characters; where its case handling
// differs from the context's it is wrapped in (?i:...) or (?-i:...).
func (p printer) literal(re *syntax.Regexp) (string, prec) {
	var b strings.Builder
	letters := false
	fold := re.Flags&syntax.FoldCase != 0
	for _, r := range re.Rune {
		if fold && r >= 'A' && r <= 'Z' {
			// RE2 keeps the upper case of a folded letter; either matches,
			// and the lower case reads like the path the user wrote.
			r += 'a' - 'A'
		}
		b.WriteString(literalByte(byte(r)))
		letters = letters || isLetter(r)
	}
	s := b.String()
	switch {
	case letters && fold && !p.caseless:
		return "(?i:" + s + ")", precAtom
	case letters && !fold && p.caseless:
		return "(?-i:" + s + ")", precAtom
	case len(re.Rune) == 1:
		return s, precAtom
	}
	return s, precConcat
}

// foldedRuns returns subs with every class of both cases of one letter
// as a caseless literal, and adjacent literals of the same case handling
// joined, as Go's parser reads the printed text back: printing stays a
// fixed point ("(?i)[s]A" must not print "(?i:s)(?i:a)", which reads back
// as "(?i:sa)"). subs is not changed.
func foldedRuns(subs []*syntax.Regexp) []*syntax.Regexp {
	var out []*syntax.Regexp
	for _, sub := range subs {
		if sub.Op == syntax.OpCharClass {
			if set, _ := classSet(sub.Rune); set.count() == 2 {
				if c, ok := caseLetter(set); ok {
					sub = &syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{rune(c)}, Flags: syntax.FoldCase}
				}
			}
		}
		if n := len(out); n > 0 && sub.Op == syntax.OpLiteral && out[n-1].Op == syntax.OpLiteral &&
			sub.Flags&syntax.FoldCase == out[n-1].Flags&syntax.FoldCase {
			prev := out[n-1]
			out[n-1] = &syntax.Regexp{Op: syntax.OpLiteral, Flags: prev.Flags,
				Rune: append(append([]rune{}, prev.Rune...), sub.Rune...)}
			continue
		}
		out = append(out, sub)
	}
	return out
}

// caseLetter returns the lower case letter when s holds both cases of one
// ASCII letter (and, being of count 2, nothing else).
func caseLetter(s byteSet) (byte, bool) {
	for c := byte('a'); c <= 'z'; c++ {
		if s.has(c) && s.has(c-'a'+'A') {
			return c, true
		}
	}
	return 0, false
}

// class prints a byte set as a PCRE class, negated when that is shorter.
// In a caseless context a class that is not fold-closed is wrapped in
// (?-i:...), or PCRE would add the other case of its letters.
func (p printer) class(s byteSet) (string, prec) {
	switch s.count() {
	case 0:
		return "(*FAIL)", precConcat
	case 256:
		return `[\x00-\xff]`, precAtom
	}
	if c, ok := caseLetter(s); ok && s.count() == 2 {
		// Both cases of one letter: Go reads [Bb] back as a caseless
		// literal, so print it as one, or printing would not be a fixed
		// point ("(aB|ab)" printed "(a[Bb])", then "(a(?i:b))").
		return p.literal(&syntax.Regexp{Op: syntax.OpLiteral, Rune: []rune{rune(c)}, Flags: syntax.FoldCase})
	}
	text := "[" + rangesText(s.ranges()) + "]"
	if neg := s.complement().ranges(); len(neg) < len(s.ranges()) {
		text = "[^" + rangesText(neg) + "]"
	}
	if p.caseless && !s.foldClosed() {
		text = "(?-i:" + text + ")"
	}
	return text, precAtom
}

func rangesText(rs [][2]byte) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(classByte(r[0]))
		switch {
		case r[1] == r[0]:
		case r[1] == r[0]+1:
			b.WriteString(classByte(r[1]))
		default:
			b.WriteByte('-')
			b.WriteString(classByte(r[1]))
		}
	}
	return b.String()
}

// plainPunct is the punctuation printed without a backslash outside a
// class: none of it means anything to PCRE there.
const plainPunct = "/_-~%@:,=!&<>'"

// literalByte prints one byte outside a class: letters, digits and
// plainPunct as they are, other printable ASCII behind a backslash (in
// PCRE a backslash before a non-alphanumeric is always literal), and
// space, control characters and high bytes as \xhh.
func literalByte(c byte) string {
	switch {
	case isAlnum(c) || strings.IndexByte(plainPunct, c) >= 0:
		return string(c)
	case 0x20 < c && c < 0x7f:
		return `\` + string(c)
	}
	return fmt.Sprintf(`\x%02x`, c)
}

// classByte prints one byte inside a class, like literalByte but with "-"
// escaped too; "]", "\", "^" and "[" are always escaped.
func classByte(c byte) string {
	if c == '-' {
		return `\-`
	}
	return literalByte(c)
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func isLetter(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
}

// cost over-estimates the bytes of code PCRE2 compiles re to: classes
// take a 32-byte bitmap, and a quantified group is copied once per count.
func cost(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		return 2*len(re.Rune) + 6
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return 33 + 6
	case syntax.OpBeginLine, syntax.OpEndLine:
		return 20
	case syntax.OpCapture:
		return 8 + cost(re.Sub[0])
	case syntax.OpConcat, syntax.OpAlternate:
		n := 6
		for _, sub := range re.Sub {
			n += 3 + cost(sub)
		}
		return n
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest:
		if single(re.Sub[0]) {
			return cost(re.Sub[0]) + 6
		}
		return 2*cost(re.Sub[0]) + 12
	case syntax.OpRepeat:
		if single(re.Sub[0]) {
			return cost(re.Sub[0]) + 8
		}
		copies := re.Max
		if copies == -1 {
			copies = re.Min + 1
		}
		return max(copies, 1)*(cost(re.Sub[0])+6) + 12
	}
	return 6
}

// single reports a node PCRE repeats in place rather than by copying.
func single(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		return len(re.Rune) == 1
	case syntax.OpCharClass, syntax.OpAnyCharNotNL, syntax.OpAnyChar:
		return true
	}
	return false
}
