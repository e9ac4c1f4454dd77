package pcre

import (
	"errors"
	"fmt"
	"regexp/syntax"
)

// The loop check reads the pattern as a position automaton (Glushkov):
// each character node (one rune of a literal, a class, ".") is a
// position, and follow edges say which position may match the next
// character. Unlike the textbook construction it keeps every distinct
// route a backtracking matcher can take: two edges to the same position
// stay two edges, and a route through a part that can match the empty
// string in two ways counts twice. Counted repeats are unrolled, so a
// counter never hides a choice.
//
// Every edge records the innermost loop it lies in (its scope). Two
// edges out of one position lie in a common loop exactly when both have
// a scope (the scopes of edges out of one position are nested). If two
// such edges accept a common character, that loop has two different
// routes over the same text, and a backtracking matcher may try every
// combination of them: exponential time. The check refuses that.

// Limits that keep the check itself cheap.
const (
	maxPositions = 10000
	maxEdges     = 200000
	maxWork      = 4000000
)

// scope is one loop of the unrolled pattern.
type scope struct {
	parent *scope
	depth  int
	node   *syntax.Regexp
}

// ref is a position reached by n routes (saturating at 2: two is enough to be ambiguous).
type ref struct {
	pos int32
	n   uint8
}

// edge is a follow edge: after its source, position to may match, by n routes, within scope.
type edge struct {
	to    int32
	n     uint8
	scope *scope
}

// frag is the automaton of a subtree: the positions it can start and end
// with, and how many ways it can match the empty string.
type frag struct {
	first, last []ref
	empty       uint8
}

type analyzer struct {
	src    string
	sets   []byteSet
	follow [][]edge
	edges  int
	work   int
	err    error
}

// errTooComplex stops the check when the unrolled pattern is too big to check.
var errTooComplex = errors.New("regex is too large to check once its repeats are expanded; use smaller repeat counts")

// checkLoops applies the loop rule in the package comment to re; src is
// the source, for error messages.
func checkLoops(re *syntax.Regexp, src string) error {
	a := &analyzer{src: src}
	a.build(re, nil)
	if a.err != nil {
		return a.err
	}
	for p, out := range a.follow {
		var seen byteSet
		for i, e := range out {
			if e.scope == nil {
				continue
			}
			set := a.sets[e.to]
			if e.n >= 2 {
				return a.ambiguous(e.scope)
			}
			if seen.intersects(set) {
				for _, f := range a.follow[p][:i] {
					if f.scope != nil && a.sets[f.to].intersects(set) {
						s := e.scope
						if f.scope.depth < s.depth {
							s = f.scope
						}
						return a.ambiguous(s)
					}
				}
			}
			seen.union(set)
		}
	}
	return nil
}

func (a *analyzer) ambiguous(s *scope) error {
	return fmt.Errorf("regex repeats something that can match the same text in more than one way (%s); nginx could spend exponential time on it; make each round start or end with a character the rest of it cannot match, like ([a-z]+/)+", quote(a.describe(s.node)))
}

func (a *analyzer) nullable(loop *syntax.Regexp) {
	if a.err == nil {
		a.err = fmt.Errorf("regex repeats something that can match the empty string (%s); nginx could spend exponential time on it; make the repeated part match at least one character", quote(a.describe(loop)))
	}
}

// describe shows a loop the way the user wrote it when its body is a
// capture group, else the way regexp/syntax prints it.
func (a *analyzer) describe(loop *syntax.Regexp) string {
	if sub := loop.Sub[0]; sub.Op == syntax.OpCapture {
		if text, ok := captureText(a.src, sub.Cap); ok {
			return text
		}
	}
	return loop.String()
}

// position adds a character node.
func (a *analyzer) position(s byteSet) frag {
	if len(a.sets) >= maxPositions {
		a.err = errTooComplex
		return frag{}
	}
	p := int32(len(a.sets))
	a.sets = append(a.sets, s)
	a.follow = append(a.follow, nil)
	r := []ref{{pos: p, n: 1}}
	return frag{first: r, last: r}
}

// link adds edges from every position in from to every position in to.
func (a *analyzer) link(from, to []ref, sc *scope) {
	a.work += len(from) * len(to)
	if a.work > maxWork {
		a.err = errTooComplex
		return
	}
	for _, f := range from {
		for _, t := range to {
			a.follow[f.pos] = append(a.follow[f.pos], edge{to: t.pos, n: sat(f.n * t.n), scope: sc})
		}
	}
	a.edges += len(from) * len(to)
	if a.edges > maxEdges {
		a.err = errTooComplex
	}
}

// concat is x then y, linked within scope sc.
func (a *analyzer) concat(x, y frag, sc *scope) frag {
	a.link(x.last, y.first, sc)
	return frag{
		first: join(x.first, scale(y.first, x.empty)),
		last:  join(y.last, scale(x.last, y.empty)),
		empty: sat(x.empty * y.empty),
	}
}

// loop adds the edges that run body again, within scope sc.
func (a *analyzer) loop(body frag, sc *scope) {
	if body.empty > 0 {
		a.nullable(sc.node)
	}
	a.link(body.last, body.first, sc)
}

// build returns the automaton of re; sc is the innermost loop around it.
func (a *analyzer) build(re *syntax.Regexp, sc *scope) frag {
	if a.err != nil {
		return frag{}
	}
	switch re.Op {
	case syntax.OpLiteral:
		f := frag{empty: 1}
		for _, r := range re.Rune {
			f = a.concat(f, a.position(literalSet(r, re.Flags&syntax.FoldCase != 0)), sc)
		}
		return f
	case syntax.OpCharClass:
		s, _ := classSet(re.Rune)
		if s.count() == 0 {
			return frag{}
		}
		return a.position(s)
	case syntax.OpAnyCharNotNL:
		return a.position(anyNotNL())
	case syntax.OpAnyChar:
		return a.position(anyByte())
	case syntax.OpNoMatch:
		return frag{}
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return frag{empty: 1}
	case syntax.OpCapture:
		return a.build(re.Sub[0], sc)
	case syntax.OpConcat:
		f := frag{empty: 1}
		for _, sub := range re.Sub {
			f = a.concat(f, a.build(sub, sc), sc)
		}
		return f
	case syntax.OpAlternate:
		var f frag
		for _, sub := range re.Sub {
			g := a.build(sub, sc)
			f = frag{first: join(f.first, g.first), last: join(f.last, g.last), empty: sat(f.empty + g.empty)}
		}
		return f
	case syntax.OpQuest:
		f := a.build(re.Sub[0], sc)
		f.empty = sat(1 + f.empty)
		return f
	case syntax.OpStar, syntax.OpPlus:
		in := &scope{parent: sc, depth: depth(sc) + 1, node: re}
		f := a.build(re.Sub[0], in)
		a.loop(f, in)
		if re.Op == syntax.OpStar {
			f.empty = sat(1 + f.empty)
		}
		return f
	case syntax.OpRepeat:
		return a.repeat(re, sc)
	}
	return frag{}
}

// repeat unrolls x{n,m}: n copies of x, the last one looping when m is
// unbounded, then m-n nested optional copies (x(x(x)?)?)?, which is the
// order a backtracking matcher tries them in.
func (a *analyzer) repeat(re *syntax.Regexp, sc *scope) frag {
	in := sc
	isLoop := re.Max == -1 || re.Max > 1
	if isLoop {
		in = &scope{parent: sc, depth: depth(sc) + 1, node: re}
	}
	copyOf := func() frag {
		f := a.build(re.Sub[0], in)
		if isLoop && f.empty > 0 {
			a.nullable(re)
		}
		return f
	}
	acc := frag{empty: 1}
	for i := 0; i < re.Min && a.err == nil; i++ {
		f := copyOf()
		if re.Max == -1 && i == re.Min-1 {
			a.loop(f, in)
		}
		acc = a.concat(acc, f, in)
	}
	switch {
	case re.Max == -1 && re.Min == 0:
		f := copyOf()
		a.loop(f, in)
		f.empty = sat(1 + f.empty)
		acc = a.concat(acc, f, in)
	case re.Max > re.Min:
		tail := frag{empty: 1}
		for i := re.Min; i < re.Max && a.err == nil; i++ {
			tail = a.concat(copyOf(), tail, in)
			tail.empty = sat(1 + tail.empty)
		}
		acc = a.concat(acc, tail, in)
	}
	return acc
}

func depth(s *scope) int {
	if s == nil {
		return 0
	}
	return s.depth
}

// sat saturates a route count at 2.
func sat(n uint8) uint8 { return min(n, 2) }

// scale is refs reached k more ways (k routes through something empty).
func scale(refs []ref, k uint8) []ref {
	switch k {
	case 0:
		return nil
	case 1:
		return refs
	}
	out := make([]ref, len(refs))
	for i, r := range refs {
		out[i] = ref{pos: r.pos, n: sat(r.n * k)}
	}
	return out
}

// join appends two lists of distinct positions without sharing storage.
func join(x, y []ref) []ref {
	if len(y) == 0 {
		return x
	}
	out := make([]ref, 0, len(x)+len(y))
	return append(append(out, x...), y...)
}

// captureText finds capture group n in src as written, with the
// quantifier after it, e.g. "(a|aa)+".
func captureText(src string, n int) (string, bool) {
	type open struct{ at, capture int }
	var stack []open
	captures := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case '\\':
			if i+1 < len(src) && src[i+1] == 'Q' {
				end := indexFrom(src, `\E`, i+2)
				if end < 0 {
					return "", false
				}
				i = end + 1
				continue
			}
			i++
		case '[':
			i = classEnd(src, i)
		case '(':
			c := 0
			if i+1 < len(src) && src[i+1] == '?' {
				j := i + 2
				for j < len(src) && src[j] != ':' && src[j] != ')' && src[j] != '<' {
					j++
				}
				if j < len(src) && src[j] == ')' {
					i = j // a flag group like (?i) opens nothing
					continue
				}
				if j < len(src) && src[j] == '<' {
					captures++
					c = captures
				}
			} else {
				captures++
				c = captures
			}
			stack = append(stack, open{at: i, capture: c})
		case ')':
			if len(stack) == 0 {
				return "", false
			}
			o := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if o.capture == n {
				return src[o.at : i+1+quantifierLen(src[i+1:])], true
			}
		}
	}
	return "", false
}

// classEnd returns the index of the "]" that closes the class opening at i.
func classEnd(src string, i int) int {
	j := i + 1
	if j < len(src) && src[j] == '^' {
		j++
	}
	if j < len(src) && src[j] == ']' {
		j++
	}
	for ; j < len(src); j++ {
		switch {
		case src[j] == '\\':
			j++
		case src[j] == '[' && j+1 < len(src) && src[j+1] == ':':
			if end := indexFrom(src, ":]", j+2); end >= 0 {
				j = end + 1
			}
		case src[j] == ']':
			return j
		}
	}
	return len(src)
}

// quantifierLen is the length of the quantifier at the start of s, if any.
func quantifierLen(s string) int {
	n := 0
	switch {
	case s == "":
		return 0
	case s[0] == '*' || s[0] == '+' || s[0] == '?':
		n = 1
	case s[0] == '{':
		j := 1
		for j < len(s) && ('0' <= s[j] && s[j] <= '9' || s[j] == ',') {
			j++
		}
		if j == 1 || j >= len(s) || s[j] != '}' {
			return 0
		}
		n = j + 1
	default:
		return 0
	}
	if n < len(s) && s[n] == '?' {
		n++
	}
	return n
}

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
