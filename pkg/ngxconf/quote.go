// Package ngxconf is the one boundary between user-derived strings and
// nginx.conf syntax. Quote turns any string into exactly one nginx token, and
// Parse reads nginx.conf back into a directive tree so tests can prove that
// no input ever produced a directive the model did not intend.
package ngxconf

import "strings"

// quoteReplacer escapes the two characters nginx's tokenizer treats
// specially inside a double-quoted string. Control characters are escaped
// too so that a value can never span lines in the rendered file.
var quoteReplacer = strings.NewReplacer(
	`\`, `\\`,
	`"`, `\"`,
	"\n", `\n`,
	"\r", `\r`,
	"\t", `\t`,
)

// Quote returns s as a single double-quoted nginx token. nginx un-escapes
// \\, \", \n, \r and \t inside double quotes, so the token always reads back
// as s. It does not neutralise "$": directives that interpolate variables
// must only receive values a validator has already checked for "$".
func Quote(s string) string {
	return `"` + quoteReplacer.Replace(s) + `"`
}
