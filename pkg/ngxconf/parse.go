package ngxconf

import (
	"fmt"
	"strings"
)

// Directive is one nginx directive: its name, its arguments with quoting
// removed, and its block when it has one.
type Directive struct {
	// Name is the first token of the directive, for example "location".
	Name string
	// Args are the remaining tokens, un-escaped the way nginx un-escapes them.
	Args []string
	// Block holds the directives between braces; nil when the directive ends with ";".
	Block []*Directive
	// Line is the 1-based line on which the directive starts.
	Line int
}

// HasBlock reports whether the directive has a block, even an empty one.
func (d *Directive) HasBlock() bool { return d.Block != nil }

// Parse reads nginx configuration text into a directive tree, following the
// tokenizer rules of nginx's ngx_conf_read_token: whitespace separates tokens,
// ";" ends a directive, "{" and "}" open and close blocks, "#" starts a
// comment, single and double quotes group a token and understand the escapes
// \" \' \\ \n \r \t. It rejects the same malformed input nginx rejects.
func Parse(text string) ([]*Directive, error) {
	p := &parser{src: text, line: 1}
	dirs, err := p.block(0)
	if err != nil {
		return nil, err
	}
	return dirs, nil
}

type parser struct {
	src  string
	pos  int
	line int
}

type tokenKind int

const (
	tokWord tokenKind = iota
	tokSemicolon
	tokOpen
	tokClose
	tokEOF
)

type token struct {
	kind tokenKind
	text string
	line int
}

func (p *parser) errorf(line int, format string, args ...any) error {
	return fmt.Errorf("line %d: %s", line, fmt.Sprintf(format, args...))
}

// block parses directives until the matching "}" (depth > 0) or EOF (depth 0).
func (p *parser) block(depth int) ([]*Directive, error) {
	dirs := []*Directive{}
	var cur *Directive
	for {
		tok, err := p.next()
		if err != nil {
			return nil, err
		}
		switch tok.kind {
		case tokEOF:
			if cur != nil {
				return nil, p.errorf(tok.line, "unexpected end of file, expecting \";\" or \"}\"")
			}
			if depth > 0 {
				return nil, p.errorf(tok.line, "unexpected end of file, expecting \"}\"")
			}
			return dirs, nil
		case tokWord:
			if cur == nil {
				cur = &Directive{Name: tok.text, Line: tok.line}
			} else {
				cur.Args = append(cur.Args, tok.text)
			}
		case tokSemicolon:
			if cur == nil {
				return nil, p.errorf(tok.line, "unexpected \";\"")
			}
			dirs = append(dirs, cur)
			cur = nil
		case tokOpen:
			if cur == nil {
				return nil, p.errorf(tok.line, "unexpected \"{\"")
			}
			inner, err := p.block(depth + 1)
			if err != nil {
				return nil, err
			}
			cur.Block = inner
			dirs = append(dirs, cur)
			cur = nil
		case tokClose:
			if cur != nil {
				return nil, p.errorf(tok.line, "unexpected \"}\"")
			}
			if depth == 0 {
				return nil, p.errorf(tok.line, "unexpected \"}\"")
			}
			return dirs, nil
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// next returns the next token. It mirrors nginx: a quoted token must be
// followed by whitespace, ";", "{", "}" or ")" (nginx reports "unexpected"
// otherwise).
func (p *parser) next() (token, error) {
	// Skip whitespace and comments.
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '\n' {
			p.line++
			p.pos++
			continue
		}
		if isSpace(c) {
			p.pos++
			continue
		}
		if c == '#' {
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
			continue
		}
		break
	}
	if p.pos >= len(p.src) {
		return token{kind: tokEOF, line: p.line}, nil
	}
	line := p.line
	c := p.src[p.pos]
	switch c {
	case ';':
		p.pos++
		return token{kind: tokSemicolon, line: line}, nil
	case '{':
		p.pos++
		return token{kind: tokOpen, line: line}, nil
	case '}':
		p.pos++
		return token{kind: tokClose, line: line}, nil
	case '"', '\'':
		text, err := p.quoted(c)
		if err != nil {
			return token{}, err
		}
		if p.pos < len(p.src) {
			n := p.src[p.pos]
			// ")" may follow, as in: if ($scheme = "http") { ... }
			if !isSpace(n) && n != ';' && n != '{' && n != '}' && n != ')' {
				return token{}, p.errorf(p.line, "unexpected %q after quoted string", n)
			}
		}
		return token{kind: tokWord, text: text, line: line}, nil
	}
	return p.bare(line)
}

func (p *parser) quoted(q byte) (string, error) {
	start := p.line
	p.pos++ // opening quote
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\\' && p.pos+1 < len(p.src):
			b.WriteString(unescape(p.src[p.pos+1]))
			if p.src[p.pos+1] == '\n' {
				p.line++
			}
			p.pos += 2
		case c == q:
			p.pos++
			return b.String(), nil
		default:
			if c == '\n' {
				p.line++
			}
			b.WriteByte(c)
			p.pos++
		}
	}
	return "", p.errorf(start, "unexpected end of file in quoted string")
}

// unescape applies nginx's escape rules: only these escapes are understood,
// any other backslash is kept literally with the character after it.
func unescape(c byte) string {
	switch c {
	case '"', '\'', '\\':
		return string(c)
	case 'n':
		return "\n"
	case 'r':
		return "\r"
	case 't':
		return "\t"
	}
	return `\` + string(c)
}

func (p *parser) bare(line int) (token, error) {
	var b strings.Builder
	variable := false
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '\\' && p.pos+1 < len(p.src) {
			b.WriteString(unescape(p.src[p.pos+1]))
			p.pos += 2
			variable = false
			continue
		}
		// "${" starts a braced variable name, not a block.
		if c == '{' && variable {
			for p.pos < len(p.src) && p.src[p.pos] != '}' {
				b.WriteByte(p.src[p.pos])
				p.pos++
			}
			if p.pos >= len(p.src) {
				return token{}, p.errorf(line, "unterminated variable")
			}
			b.WriteByte('}')
			p.pos++
			variable = false
			continue
		}
		if isSpace(c) || c == ';' || c == '{' || c == '}' {
			break
		}
		variable = c == '$'
		b.WriteByte(c)
		p.pos++
	}
	return token{kind: tokWord, text: b.String(), line: line}, nil
}

// Walk calls fn for every directive in the tree, depth first, with the
// names of the enclosing blocks.
func Walk(dirs []*Directive, fn func(path []string, d *Directive)) {
	walk(nil, dirs, fn)
}

func walk(path []string, dirs []*Directive, fn func(path []string, d *Directive)) {
	for _, d := range dirs {
		fn(path, d)
		if d.Block != nil {
			walk(append(append([]string(nil), path...), d.Name), d.Block, fn)
		}
	}
}
