package annotations

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseCanary(t *testing.T) {
	a := func(key string) string { return DefaultPrefix + "/" + key }
	cases := []groupCase[Canary]{
		{name: "none", in: map[string]string{"other.io/canary": "true"}},
		{name: "weight", in: map[string]string{a("canary"): "true", a("canary-weight"): "10"},
			want: Canary{Enabled: true, Weight: 10}},
		{name: "every key", in: map[string]string{
			a("canary"):                   "true",
			a("canary-weight"):            "250",
			a("canary-weight-total"):      "1000",
			a("canary-by-header"):         "X-Canary",
			a("canary-by-header-value"):   "beta users",
			a("canary-by-header-pattern"): `^(beta|internal)-[0-9]+$`,
			a("canary-by-cookie"):         "canary_v2",
		}, want: Canary{Enabled: true, Weight: 250, WeightTotal: 1000, Header: "X-Canary", HeaderValue: "beta users",
			HeaderPattern: bounded(`\A(beta|internal)-[0-9]+\z`), Cookie: "canary_v2"}},
		{name: "weight above the total is left to Check", in: map[string]string{
			a("canary"): "true", a("canary-weight"): "50", a("canary-weight-total"): "20",
		}, want: Canary{Enabled: true, Weight: 50, WeightTotal: 20}},
		{name: "injection attempts are invalid", in: map[string]string{
			a("canary"):                   "true",
			a("canary-by-header"):         "X-Canary: always\r\nX-Other",
			a("canary-by-header-value"):   `always"; return 200; "`,
			a("canary-by-header-pattern"): "^a$\n}",
			a("canary-by-cookie"):         "c; Path=/",
			a("canary-weight"):            "10;",
		}, want: Canary{Enabled: true}, problems: []string{
			"InvalidAnnotation " + a("canary-by-cookie"),
			"InvalidAnnotation " + a("canary-by-header"),
			"InvalidAnnotation " + a("canary-by-header-pattern"),
			"InvalidAnnotation " + a("canary-by-header-value"),
			"InvalidAnnotation " + a("canary-weight"),
		}},
	}
	runGroupCases(t, cases, func(s Set) Canary { return s.Canary })
}

// bounded is a header pattern as stored: with the match limit.
func bounded(pattern string) string { return "(*LIMIT_MATCH=100000)" + pattern }

func TestCanaryValues(t *testing.T) {
	tests := []valueCase[Canary]{
		{key: "canary",
			valid: map[string]Canary{"true": {Enabled: true}, "True": {Enabled: true}, "1": {Enabled: true}, "false": {}},
			bad:   []string{"", "yes", "enabled", "true;", "true\nfalse"}},
		{key: "canary-weight",
			valid: map[string]Canary{"0": {}, "1": {Weight: 1}, "100": {Weight: 100}, "1000000": {Weight: 1000000}},
			bad:   []string{"", "-1", "+1", "1.5", "10%", "1e2", "1000001", "9999999", "10; x", "$w"}},
		{key: "canary-weight-total",
			valid: map[string]Canary{"1": {WeightTotal: 1}, "100": {WeightTotal: 100}, "1000000": {WeightTotal: 1000000}},
			bad:   []string{"", "0", "-100", "1000001", "100.0", "100\n0"}},
		{key: "canary-by-header",
			valid: map[string]Canary{"X-Canary": {Header: "X-Canary"}, "canary": {Header: "canary"},
				strings.Repeat("h", 64): {Header: strings.Repeat("h", 64)}},
			bad: []string{"", "X_Canary", "X.Canary", "X Canary", "X-Canary:", "X-Canary;", `"X-Canary"`, "X-Canary\r\nX-B",
				"$http_x", "X'C", strings.Repeat("h", 65)}},
		{key: "canary-by-header-value",
			valid: map[string]Canary{"always": {HeaderValue: "always"}, "beta users": {HeaderValue: "beta users"},
				"v2.1+build/7=ok,[x]|y~z?<a>@b:c!#%&()*^_-": {HeaderValue: "v2.1+build/7=ok,[x]|y~z?<a>@b:c!#%&()*^_-"},
				strings.Repeat("v", 256):                    {HeaderValue: strings.Repeat("v", 256)}},
			bad: []string{"", "a;b", `a"b`, "a'b", "a`b", `a\b`, "$host", "a${b}", "a{b", "a}b", "a\r\nb", "a\nb", "a\tb",
				"a\x00b", "a\x7fb", "caf\u00e9", strings.Repeat("v", 257)}},
		// Patterns are stored as nginx's PCRE runs them: printed from their
		// parse tree, with a match limit. What Go and PCRE read differently
		// (\12, \x41, \Q..\E, [\d-z], a{,3}, \v) is printed in a form both read alike.
		{key: "canary-by-header-pattern",
			valid: map[string]Canary{
				"^always$":                     {HeaderPattern: bounded(`\Aalways\z`)},
				`^(beta|internal)-\d+$`:        {HeaderPattern: bounded(`\A(beta|internal)-[0-9]+\z`)},
				`(?i)^v[0-9]{1,3}\.x$`:         {HeaderPattern: bounded(`\A(?i:v)[0-9]{1,3}(?i:\.x)\z`)},
				`.*internal.*`:                 {HeaderPattern: bounded(`[^\x0a]*internal[^\x0a]*`)},
				`^(\d+\.){3}\d+$`:              {HeaderPattern: bounded(`\A([0-9]+\.){3}[0-9]+\z`)},
				`^v-\d+$`:                      {HeaderPattern: bounded(`\Av-[0-9]+\z`)},
				`^[-\w]+[\w-]$`:                {HeaderPattern: bounded(`\A[\-0-9A-Z_a-z]+[\-0-9A-Z_a-z]\z`)},
				`^[a-z\d.]+[[:alpha:]]$`:       {HeaderPattern: bounded(`\A[\.0-9a-z]+[A-Za-z]\z`)},
				`^[]a]\\x$`:                    {HeaderPattern: bounded(`\A[\]a]\\x\z`)},
				`^"quoted";$`:                  {HeaderPattern: bounded(`\A\"quoted\"\;\z`)},
				"^" + strings.Repeat("a", 255): {HeaderPattern: bounded(`\A` + strings.Repeat("a", 255))},
				`\12`:                          {HeaderPattern: bounded(`\x0a`)},
				`\x41`:                         {HeaderPattern: bounded(`A`)},
				`\Qa.b\E`:                      {HeaderPattern: bounded(`a\.b`)},
				`[\d-z]`:                       {HeaderPattern: bounded(`[\-0-9z]`)},
				`[\w-.]`:                       {HeaderPattern: bounded(`[\-\.0-9A-Z_a-z]`)},
				`[a[:digit:]-z]`:               {HeaderPattern: bounded(`[\-0-9az]`)},
				`a{,3}`:                        {HeaderPattern: bounded(`a\{,3\}`)},
				`a\vb`:                         {HeaderPattern: bounded(`a\x0bb`)},
			},
			bad: []string{
				"",
				"(unclosed",
				"a**",
				`(?<=a)b`,       // look-behind: PCRE only
				`(?=a)`,         // look-ahead: PCRE only
				`(a)\1`,         // backreference: PCRE only
				`\pL`,           // Unicode class
				`(?P<route>a)`,  // named group: nginx would set $route
				`(?<portico>a)`, // idem
				`(a+)+$`,        // exponential backtracking in PCRE
				`(a|b*)*`,       // idem
				`(\w+\s?)*x`,    // idem
				`(x+){2,}`,      // idem
				"^a$\n|b",       // control character
				"^a\r\nb",       // control characters
				"a\x00",         // NUL
				"caf\u00e9",     // non-ASCII
				strings.Repeat("a", 257),
			}},
		{key: "canary-by-cookie",
			valid: map[string]Canary{"canary": {Cookie: "canary"}, "my.canary-cookie_1": {Cookie: "my.canary-cookie_1"}},
			bad:   []string{"", "a b", "a;b", "a=b", "a,b", `"a"`, "a'b", "$c", "a\r\nb", strings.Repeat("c", 65)}},
	}
	runValueCases(t, tests, func(s Set) Canary { return s.Canary })
}

func TestCanaryTotalAndCheck(t *testing.T) {
	tests := []struct {
		name  string
		c     Canary
		total int
		err   string
	}{
		{name: "zero value", c: Canary{}, total: 100},
		{name: "default total", c: Canary{Enabled: true, Weight: 100}, total: 100},
		{name: "above default total", c: Canary{Enabled: true, Weight: 101}, total: 100,
			err: "canary-weight 101 is more than canary-weight-total (default) 100"},
		{name: "explicit total", c: Canary{Enabled: true, Weight: 1000, WeightTotal: 1000}, total: 1000},
		{name: "small total", c: Canary{Enabled: true, Weight: 0, WeightTotal: 1}, total: 1},
		{name: "above explicit total", c: Canary{Enabled: true, Weight: 11, WeightTotal: 10}, total: 10,
			err: "canary-weight 11 is more than canary-weight-total 10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.total, tc.c.Total())
			err := tc.c.Check()
			if tc.err == "" {
				assert.NoError(t, err)
			} else {
				assert.EqualError(t, err, tc.err)
			}
		})
	}

	// Through the parser: the total is 0 (absent) in the Set, 100 from Total.
	set, problems := NewParser("").Parse(map[string]string{
		DefaultPrefix + "/canary": "true", DefaultPrefix + "/canary-weight": "150",
	})
	require.Empty(t, problems)
	assert.Equal(t, 0, set.Canary.WeightTotal)
	assert.Equal(t, 100, set.Canary.Total())
	assert.Error(t, set.Canary.Check())
}

// TestCanaryStringsStayInert: whatever the input, a header, cookie or
// value that passes holds nothing that splits a header or a config line.
func TestCanaryStringsStayInert(t *testing.T) {
	var inputs []string
	for b := 0; b < 128; b++ {
		inputs = append(inputs, "a"+string(rune(b))+"b")
	}
	p := NewParser("")
	for _, key := range []string{"canary-by-header", "canary-by-header-value", "canary-by-cookie", "canary-by-header-pattern"} {
		for _, v := range inputs {
			set, problems := p.Parse(map[string]string{DefaultPrefix + "/" + key: v})
			if len(problems) > 0 {
				continue
			}
			c := set.Canary
			for _, s := range []string{c.Header, c.HeaderValue, c.Cookie, c.HeaderPattern} {
				require.False(t, strings.ContainsAny(s, "\r\n\t\x00\x7f"), "%s: %q passed", key, v)
			}
			for _, s := range []string{c.Header, c.HeaderValue, c.Cookie} {
				require.False(t, strings.ContainsAny(s, ";\"'`\\${}"), "%s: %q passed", key, v)
			}
		}
	}
}
