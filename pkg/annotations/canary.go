package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/portico-ingress/portico/pkg/pcre"
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

// headerPatternSteps bounds PCRE's work per request on a header pattern:
// the subject is a header any client chooses, up to 8 KiB. 100,000 steps
// are about 1-2 ms of worker CPU; pkg/pcre refuses the exponential shapes.
const headerPatternSteps = 100_000

// headerPattern parses a canary-by-header-pattern and returns the PCRE
// pattern the Lua balancer runs, printed from its parse tree and bounded.
func headerPattern(v string) (string, error) {
	if v == "" {
		return "", errors.New("is empty; leave the annotation out to match no header value")
	}
	p, err := pcre.Parse(v, pcre.Options{MaxLength: 256})
	if err != nil {
		return "", err
	}
	return pcre.WithMatchLimit(p.PCRE(), headerPatternSteps), nil
}

// canaryWeightValue is a whole number without sign; the range is checked after.
var canaryWeightValue = regexp.MustCompile(`^[0-9]{1,7}$`)

func canaryFields() []Field {
	return inGroup("canary", []Field{
		{Key: "canary", Default: "false", Allowed: "true, false", Risk: RiskMedium,
			Doc:   "make this Ingress the canary of the Ingress that serves the same host and path",
			apply: setBool(func(s *Set, b bool) { s.Canary.Enabled = b })},
		{Key: "canary-weight", Default: "0", Allowed: "a whole number from 0 to canary-weight-total", Risk: RiskLow,
			Doc: "share of requests (out of canary-weight-total) sent to the canary",
			apply: func(v string, s *Set) error {
				n, err := strconv.Atoi(v)
				if !canaryWeightValue.MatchString(v) || err != nil || n > MaxCanaryWeightTotal {
					return fmt.Errorf("is not a whole number from 0 to %d", MaxCanaryWeightTotal)
				}
				s.Canary.Weight = n
				return nil
			}},
		{Key: "canary-weight-total", Default: strconv.Itoa(DefaultCanaryWeightTotal), Allowed: fmt.Sprintf("a whole number from 1 to %d", MaxCanaryWeightTotal), Risk: RiskLow,
			Doc: "what canary-weight is out of",
			apply: func(v string, s *Set) error {
				n, err := strconv.Atoi(v)
				if !canaryWeightValue.MatchString(v) || err != nil || n < 1 || n > MaxCanaryWeightTotal {
					return fmt.Errorf("is not a whole number from 1 to %d", MaxCanaryWeightTotal)
				}
				s.Canary.WeightTotal = n
				return nil
			}},
		{Key: "canary-by-header", Default: "", Allowed: "a header name of 1 to 64 letters, digits and -", Risk: RiskLow,
			Doc: `requests with this header set to "always" go to the canary, "never" never do`,
			apply: func(v string, s *Set) error {
				if !canaryHeaderName.MatchString(v) {
					return errors.New("is not a header name of 1 to 64 letters, digits and - (nginx drops headers with other characters)")
				}
				s.Canary.Header = v
				return nil
			}},
		{Key: "canary-by-header-value", Default: "", Allowed: `1 to 256 printable ASCII characters without quotes, backslash, $, ; or braces`, Risk: RiskLow,
			Doc: "requests whose canary-by-header equals this value go to the canary",
			apply: func(v string, s *Set) error {
				if !canaryHeaderValue.MatchString(v) {
					return errors.New(`is not 1 to 256 printable ASCII characters without quotes, backslash, $, ; or braces`)
				}
				s.Canary.HeaderValue = v
				return nil
			}},
		{Key: "canary-by-header-pattern", Default: "", Allowed: "a regular expression of at most 256 ASCII characters (RE2 syntax); no named groups, no shapes that backtrack exponentially", Risk: RiskMedium,
			Doc: "requests whose canary-by-header matches this regex go to the canary (when canary-by-header-value is not set)",
			apply: func(v string, s *Set) error {
				pattern, err := headerPattern(v)
				if err != nil {
					return err
				}
				s.Canary.HeaderPattern = pattern
				return nil
			}},
		{Key: "canary-by-cookie", Default: "", Allowed: cookieTokenText, Risk: RiskLow,
			Doc: `requests with this cookie set to "always" go to the canary, "never" never do`,
			apply: func(v string, s *Set) error {
				if !cookieToken.MatchString(v) {
					return errors.New("is not " + cookieTokenText)
				}
				s.Canary.Cookie = v
				return nil
			}},
	})
}
