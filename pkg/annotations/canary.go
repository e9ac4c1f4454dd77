package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// Canary marks an Ingress as the canary of the Ingress that serves the same host and path.
type Canary struct {
	// Enabled is canary: true; without it the other canary keys change nothing.
	Enabled bool `json:"enabled,omitempty"`
	// Weight is the share of requests (out of WeightTotal) the canary gets.
	Weight int `json:"weight,omitempty"`
	// WeightTotal is canary-weight-total, default 100.
	WeightTotal int `json:"weightTotal,omitempty"`
	// Header names the request header that sends a request to the canary ("always") or not ("never").
	Header string `json:"header,omitempty"`
	// HeaderValue replaces "always": the canary gets requests whose Header equals it.
	HeaderValue string `json:"headerValue,omitempty"`
	// HeaderPattern is a PCRE the Header must match, used when HeaderValue is empty.
	HeaderPattern string `json:"headerPattern,omitempty"`
	// Cookie names the cookie that sends a request to the canary ("always") or not ("never").
	Cookie string `json:"cookie,omitempty"`
}

// Canary limits.
const (
	// DefaultCanaryWeightTotal is canary-weight-total when it is absent, as in ingress-nginx.
	DefaultCanaryWeightTotal = 100
	// MaxCanaryWeightTotal bounds canary-weight-total (and so canary-weight).
	MaxCanaryWeightTotal = 1000000
)

// Total is the weight the canary's Weight is out of. The default lives
// here, not in apply, so that an absent canary-weight-total stays
// distinguishable (0) from an explicit 100.
func (c Canary) Total() int {
	if c.WeightTotal > 0 {
		return c.WeightTotal
	}
	return DefaultCanaryWeightTotal
}

// Check reports what no single key can: a canary-weight above the total.
// Keys are applied one at a time, so the model calls Check once the whole
// Set is parsed and treats an error like an invalid annotation.
func (c Canary) Check() error {
	if c.Weight > c.Total() {
		total := "canary-weight-total"
		if c.WeightTotal == 0 {
			total += " (default)"
		}
		return fmt.Errorf("canary-weight %d is more than %s %d", c.Weight, total, c.Total())
	}
	return nil
}

// canaryHeaderName allowlists letters, digits and "-": nginx drops request
// headers with other characters (ignore_invalid_headers, and "_" is not
// allowed by default), so a canary on such a header would never match.
var canaryHeaderName = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// canaryHeaderValue allowlists printable ASCII without what a quoting layer
// reads: quotes, backslash, "$" (nginx variables), ";" and braces
// (nginx syntax). Control characters, CR and LF are outside the class.
var canaryHeaderValue = regexp.MustCompile(`^[ !#%&()*+,\-./0-9:<=>?@A-Z\[\]^_a-z|~]{1,256}$`)

// patternChars is what a header pattern may hold: the subject is a
// header value, and PCRE without UTF mode reads non-ASCII bytes
// differently from Go's UTF-8 parser.
var patternChars = regexp.MustCompile(`^[\x20-\x7e]{1,256}$`)

// checkPCRE accepts a regex only when Go and PCRE agree on it and PCRE
// cannot backtrack exponentially on it; the subject is a header any
// client chooses, matched on every request.
func checkPCRE(p string) error {
	if !patternChars.MatchString(p) {
		return errors.New("is not 1 to 256 printable ASCII characters")
	}
	if _, err := regexp.Compile(p); err != nil {
		return fmt.Errorf("does not compile: %v", err)
	}
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return fmt.Errorf("does not compile: %v", err)
	}
	if pcreDiffers(p) {
		return errors.New(`uses what PCRE reads differently: \x \p \P \N \Q \E \C \v \1 to \9, {,n}, or \d or [:alpha:] next to a - in a class`)
	}
	if nestedRepeat(re, false) {
		return errors.New("repeats a repetition, like (a+)+, which PCRE can take exponential time on")
	}
	return nil
}

// pcreDiffers finds what Go's RE2 accepts but nginx's PCRE reads
// differently or refuses, the same line pkg/model draws for regex paths:
// \x, \p, \P, \N, \Q, \E, \C; \v (a tab in Go, a class in PCRE); \1 to
// \9 (Go reads \12 as octal, PCRE as a backreference); {,n} (literal in
// Go, a quantifier in recent PCRE2); and a class escape or POSIX class
// next to a "-" inside brackets ("[\w-.]": a literal "-" in Go, an invalid
// range in PCRE2). It scans escapes and brackets, so "-\d" outside a class
// and an escaped "\\x" pass.
func pcreDiffers(p string) bool {
	inClass := false
	members := 0         // members of the open class so far
	afterHyphen := false // the previous class member was an unescaped "-" that can start a range
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 == len(p) {
				return true
			}
			e := p[i+1]
			i++
			if strings.IndexByte(`xpPNQECv123456789`, e) >= 0 {
				return true
			}
			if inClass && strings.IndexByte(`dDwWsShH`, e) >= 0 && (afterHyphen || hyphenRange(p, i+1)) {
				return true
			}
		case inClass && strings.HasPrefix(p[i:], "[:"):
			end := strings.Index(p[i+2:], ":]")
			if end < 0 {
				return true
			}
			i += 2 + end + 1
			if afterHyphen || hyphenRange(p, i+1) {
				return true
			}
		case inClass && c == ']' && members > 0:
			inClass = false
			continue
		case inClass && c == '-' && members > 0:
			members++
			afterHyphen = true
			continue
		case inClass:
		case c == '[':
			inClass, members, afterHyphen = true, 0, false
			if strings.HasPrefix(p[i+1:], "^") {
				i++
			}
			continue
		case c == '{' && strings.HasPrefix(p[i+1:], ","):
			return true
		}
		if inClass {
			members++
			afterHyphen = false
		}
	}
	return false
}

// hyphenRange reports a "-" at i that makes a range (it is not the class's last character).
func hyphenRange(p string, i int) bool {
	return i+1 < len(p) && p[i] == '-' && p[i+1] != ']'
}

// nestedRepeat reports a repetition inside an unbounded one (star height
// above 1), the shape of catastrophic backtracking.
func nestedRepeat(re *syntax.Regexp, insideUnbounded bool) bool {
	repeats, unbounded := false, false
	switch re.Op {
	case syntax.OpStar, syntax.OpPlus:
		repeats, unbounded = true, true
	case syntax.OpRepeat:
		repeats, unbounded = re.Max == -1 || re.Max > 1, re.Max == -1
	}
	if repeats && insideUnbounded {
		return true
	}
	for _, sub := range re.Sub {
		if nestedRepeat(sub, insideUnbounded || unbounded) {
			return true
		}
	}
	return false
}

// canaryWeightValue is a whole number without sign; the range is checked after.
var canaryWeightValue = regexp.MustCompile(`^[0-9]{1,7}$`)

func canaryFields() []Field {
	f := func(key, def, allowed, doc string, risk Risk, apply func(string, *Set) error) Field {
		return Field{Key: key, Group: "canary", Scope: ScopeLocation, Risk: risk, Default: def, Allowed: allowed, Doc: doc, apply: apply}
	}
	return []Field{
		f("canary", "false", "true, false",
			"make this Ingress the canary of the Ingress that serves the same host and path", RiskMedium,
			setBool(func(s *Set, b bool) { s.Canary.Enabled = b })),
		f("canary-weight", "0", "a whole number from 0 to canary-weight-total",
			"share of requests (out of canary-weight-total) sent to the canary", RiskLow,
			func(v string, s *Set) error {
				n, err := strconv.Atoi(v)
				if !canaryWeightValue.MatchString(v) || err != nil || n > MaxCanaryWeightTotal {
					return fmt.Errorf("is not a whole number from 0 to %d", MaxCanaryWeightTotal)
				}
				s.Canary.Weight = n
				return nil
			}),
		f("canary-weight-total", strconv.Itoa(DefaultCanaryWeightTotal), fmt.Sprintf("a whole number from 1 to %d", MaxCanaryWeightTotal),
			"what canary-weight is out of", RiskLow,
			func(v string, s *Set) error {
				n, err := strconv.Atoi(v)
				if !canaryWeightValue.MatchString(v) || err != nil || n < 1 || n > MaxCanaryWeightTotal {
					return fmt.Errorf("is not a whole number from 1 to %d", MaxCanaryWeightTotal)
				}
				s.Canary.WeightTotal = n
				return nil
			}),
		f("canary-by-header", "", "a header name of 1 to 64 letters, digits and -",
			`requests with this header set to "always" go to the canary, "never" never do`, RiskLow,
			func(v string, s *Set) error {
				if !canaryHeaderName.MatchString(v) {
					return errors.New("is not a header name of 1 to 64 letters, digits and - (nginx drops headers with other characters)")
				}
				s.Canary.Header = v
				return nil
			}),
		f("canary-by-header-value", "", `1 to 256 printable ASCII characters without quotes, backslash, $, ; or braces`,
			"requests whose canary-by-header equals this value go to the canary", RiskLow,
			func(v string, s *Set) error {
				if !canaryHeaderValue.MatchString(v) {
					return errors.New(`is not 1 to 256 printable ASCII characters without quotes, backslash, $, ; or braces`)
				}
				s.Canary.HeaderValue = v
				return nil
			}),
		f("canary-by-header-pattern", "", "a regular expression of at most 256 printable ASCII characters that Go and PCRE read alike",
			"requests whose canary-by-header matches this regex go to the canary (when canary-by-header-value is not set)", RiskMedium,
			func(v string, s *Set) error {
				if err := checkPCRE(v); err != nil {
					return err
				}
				s.Canary.HeaderPattern = v
				return nil
			}),
		f("canary-by-cookie", "", cookieTokenText,
			`requests with this cookie set to "always" go to the canary, "never" never do`, RiskLow,
			func(v string, s *Set) error {
				if !cookieToken.MatchString(v) {
					return errors.New("is not " + cookieTokenText)
				}
				s.Canary.Cookie = v
				return nil
			}),
	}
}
