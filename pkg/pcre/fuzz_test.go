package pcre

import (
	"regexp"
	"slices"
	"strings"
	"testing"
)

// FuzzParse checks, for any source: Parse does not panic; its errors are
// one short line; and a printed pattern holds only printable ASCII, no
// named group, backreference or other escape we do not mean to print,
// and, where Go can read the printed text too, matches exactly what the
// source matches (same groups, ASCII subjects) and prints to itself again.
func FuzzParse(f *testing.F) {
	for _, tc := range accepted {
		f.Add(tc.src, tc.caseless, "/api/v1/Foo.js\n")
	}
	for _, tc := range refused {
		f.Add(tc.src, tc.opts.CaseInsensitive, "aaaaaaaaaaaaaaaaaaaaab")
	}
	for i, tc := range differential {
		f.Add(tc.src, tc.caseless, subjects[i%len(subjects)])
	}
	f.Fuzz(func(t *testing.T, src string, caseless bool, subject string) {
		opts := Options{CaseInsensitive: caseless}
		p, err := Parse(src, opts)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || len(msg) > 500 {
				t.Fatalf("Parse(%q) error is not one short line: %q", src, msg)
			}
			return
		}
		text := p.PCRE()
		checkPrinted(t, src, text)

		goSrc := src
		if caseless {
			goSrc = "(?i)" + src
		}
		orig, err := regexp.Compile(goSrc)
		if err != nil {
			t.Fatalf("Parse accepted %q, which Go's regexp refuses: %v", src, err)
		}
		if got, want := p.Captures(), orig.NumSubexp(); got != want {
			t.Fatalf("Parse(%q).Captures() = %d, want %d", src, got, want)
		}

		// PCRE-only syntax aside, the printed text is also a Go regexp.
		if strings.Contains(text, "(*") || strings.Contains(text, "(?<=") || strings.Contains(text, "(?=") {
			return
		}
		printedSrc := text
		if caseless {
			printedSrc = "(?i)" + text
		}
		printed, err := regexp.Compile(printedSrc)
		if err != nil {
			t.Fatalf("printed %q from %q, which Go's regexp refuses: %v", text, src, err)
		}
		ascii := strings.Map(func(r rune) rune {
			if r >= 0x80 {
				return -1
			}
			return r
		}, subject)
		for _, s := range []string{ascii, "", "a", "A\n", "/api/v1/", "aaaaaaaaab", "x/y.z"} {
			if got, want := printed.FindStringSubmatchIndex(s), orig.FindStringSubmatchIndex(s); !slices.Equal(got, want) {
				t.Fatalf("%q printed as %q: on %q Go gives %v for the source, %v for the printed text", src, text, s, want, got)
			}
		}
		// Printing is a fixed point, except where a class holds high
		// bytes (\x80-\xff reads as U+0080-U+00FF to Go, which we refuse).
		if strings.Contains(text, `\x8`) || strings.Contains(text, `\x9`) || strings.Contains(text, `\xa`) ||
			strings.Contains(text, `\xb`) || strings.Contains(text, `\xc`) || strings.Contains(text, `\xd`) ||
			strings.Contains(text, `\xe`) || strings.Contains(text, `\xf`) || len(text) > DefaultMaxLength {
			return
		}
		again, err := Parse(text, opts)
		if err != nil {
			t.Fatalf("printed %q from %q, which Parse refuses: %v", text, src, err)
		}
		if again.PCRE() != text {
			t.Fatalf("printed %q from %q, then %q from that", text, src, again.PCRE())
		}
	})
}

// checkPrinted fails unless text holds only printable ASCII and only the
// escapes and groups the printer means to write.
func checkPrinted(t *testing.T, src, text string) {
	t.Helper()
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c < 0x20 || c >= 0x7f {
			t.Fatalf("printed %q from %q: raw byte 0x%02x at %d", text, src, c, i)
		}
		if c == '\\' {
			if i+1 == len(text) {
				t.Fatalf("printed %q from %q: ends in a backslash", text, src)
			}
			e := text[i+1]
			switch {
			case e == 'x':
				if i+3 >= len(text) || !isHex(text[i+2]) || !isHex(text[i+3]) {
					t.Fatalf("printed %q from %q: \\x without two hex digits at %d", text, src, i)
				}
				i += 3
				continue
			case strings.IndexByte("AzbB", e) >= 0, !isAlnum(e):
			default:
				t.Fatalf("printed %q from %q: unexpected escape \\%c at %d", text, src, e, i)
			}
			i++
			continue
		}
		if c == '(' && strings.HasPrefix(text[i:], "(?") {
			rest := text[i+2:]
			ok := false
			for _, g := range []string{":", "i:", "-i:", "=", "<="} {
				ok = ok || strings.HasPrefix(rest, g)
			}
			if !ok {
				t.Fatalf("printed %q from %q: unexpected group (?%.3s at %d", text, src, rest, i)
			}
		}
	}
	if n := nesting(text); n > maxNesting {
		t.Fatalf("printed %q from %q: nested %d deep", text, src, n)
	}
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}
