package inspect

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/portico-ingress/portico/pkg/ngxconf"
)

// ServerBlocks returns the server blocks of conf that answer host, each
// with its text exactly as in nginx.conf (comments included), separated by
// blank lines. A server answers host when one of its server_name values is
// host or, for a regex ("~..."), matches it; "_" asks for the default
// server. It returns an error when no server answers host.
func ServerBlocks(conf []byte, host string) ([]byte, error) {
	dirs, err := ngxconf.Parse(string(conf))
	if err != nil {
		return nil, fmt.Errorf("reading the live nginx.conf: %w", err)
	}
	lines := strings.SplitAfter(string(conf), "\n")
	var out []string
	ngxconf.Walk(dirs, func(path []string, d *ngxconf.Directive) {
		if d.Name != "server" || !d.HasBlock() || len(path) == 0 || path[len(path)-1] != "http" || !answers(d, host) {
			return
		}
		out = append(out, blockText(lines, d.Line))
	})
	if len(out) == 0 {
		return nil, fmt.Errorf("no server block of the live nginx.conf answers %q (try \"portico inspect ingresses\" for the hosts served)", host)
	}
	return []byte(strings.Join(out, "\n")), nil
}

// answers reports whether the server block d names host.
func answers(d *ngxconf.Directive, host string) bool {
	for _, sd := range d.Block {
		if sd.Name != "server_name" {
			continue
		}
		for _, name := range sd.Args {
			if name == host {
				return true
			}
			if expr, ok := strings.CutPrefix(name, "~"); ok {
				// Go's regexp reads the simple patterns Portico writes
				// for wildcards the way PCRE does; one it cannot read
				// matches nothing.
				if re, err := regexp.Compile(expr); err == nil && re.MatchString(host) {
					return true
				}
			}
		}
	}
	return false
}

// blockText is the text of the block that starts on line start (1-based):
// from the start of that line to its closing brace. Braces in quoted
// strings and comments do not count, as nginx's tokenizer reads them.
func blockText(lines []string, start int) string {
	text := strings.Join(lines[start-1:], "")
	depth, opened := 0, false
	var quote byte
	for i := 0; i < len(text); i++ {
		c := text[i]
		// "#" starts a comment only where a token may start.
		tokenStart := i == 0 || strings.IndexByte(" \t\r\n;{}", text[i-1]) >= 0
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\\':
			i++
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && tokenStart:
			if j := strings.IndexByte(text[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(text)
			}
		case c == '{':
			depth++
			opened = true
		case c == '}':
			depth--
			if opened && depth == 0 {
				end := i + 1
				if j := strings.IndexByte(text[end:], '\n'); j >= 0 {
					end += j + 1
				}
				return text[:end]
			}
		}
	}
	return text
}
