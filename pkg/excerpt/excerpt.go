// Package excerpt shortens user input that messages quote: a finding, an
// Event or a log line must say what was wrong without repeating a whole
// payload into every one of them, and a cut must not split a UTF-8 sequence.
package excerpt

import "unicode/utf8"

// Short is how many bytes of a user's value findings and errors quote.
const Short = 64

// ellipsis marks a cut.
const ellipsis = "..."

// Of returns s cut to Short bytes (see Cut).
func Of(s string) string { return Cut(s, Short) }

// Cut returns s when it has at most max bytes, else its longest prefix of
// at most max bytes that ends on a rune boundary, followed by "...".
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// Within is Cut for a hard limit on the result: at most max bytes in all,
// the "..." included (max must be more than 3).
func Within(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return Cut(s, max-len(ellipsis))
}
