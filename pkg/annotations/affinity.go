package annotations

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Affinity is cookie-based session affinity (affinity family).
type Affinity struct {
	// Type is "cookie" when affinity is on, else "".
	Type string `json:"type,omitempty"`
	// Mode is "balanced" (default) or "persistent".
	Mode string `json:"mode,omitempty"`
	// CookieName is session-cookie-name (default INGRESSCOOKIE when Type is set).
	CookieName string `json:"cookieName,omitempty"`
	// CookiePath is the cookie's Path attribute; ingress-nginx users need it when paths are regexes.
	CookiePath string `json:"cookiePath,omitempty"`
	// CookieDomain is the cookie's Domain attribute, lower-cased, leading dot kept.
	CookieDomain string `json:"cookieDomain,omitempty"`
	// CookieMaxAge and CookieExpires are seconds; 0 means not set.
	CookieMaxAge int `json:"cookieMaxAge,omitempty"`
	// CookieExpires is seconds from the response, turned into an Expires date when the cookie is set.
	CookieExpires int `json:"cookieExpires,omitempty"`
	// CookieSecure adds the Secure attribute.
	CookieSecure bool `json:"cookieSecure,omitempty"`
	// CookieSameSite is "", "None", "Lax" or "Strict".
	CookieSameSite string `json:"cookieSameSite,omitempty"`
	// CookieChangeOnFailure picks a new endpoint (and cookie) when the pinned one fails.
	CookieChangeOnFailure bool `json:"cookieChangeOnFailure,omitempty"`
}

// Affinity defaults as ingress-nginx has them.
const (
	// DefaultAffinityCookieName is the cookie name when affinity is on and session-cookie-name is absent.
	DefaultAffinityCookieName = "INGRESSCOOKIE"
	// DefaultAffinityMode is the mode when affinity is on and affinity-mode is absent.
	DefaultAffinityMode = "balanced"
	// MaxCookieSeconds bounds session-cookie-max-age and -expires (ten years), so
	// the Expires date Lua computes stays far from any overflow.
	MaxCookieSeconds = 10 * 365 * 24 * 3600
)

// cookieToken allowlists an RFC 6265 cookie name (an RFC 2616 token) of 1
// to 64 characters, minus "$", "'", "`" and "|": ingress-nginx refuses them
// too, "$" is nginx's variable sigil, and quotes and "|" are never needed
// in a name ("|" would also break the docs' tables). Separators (";", ",",
// "=", spaces, quotes) are not tokens, so a name never splits Set-Cookie.
var cookieToken = regexp.MustCompile(`^[A-Za-z0-9!#%&*+\-.^_~]{1,64}$`)

// cookieTokenText describes cookieToken in errors and docs.
const cookieTokenText = "a cookie name of 1 to 64 letters, digits and ! # % & * + - . ^ _ ~"

// cookiePath allowlists RFC 3986 path characters except ";" and "," (they
// end or split a Set-Cookie attribute) and "$" (nginx would expand it).
var cookiePath = regexp.MustCompile(`^/[A-Za-z0-9\-._~/%!&'()*+=:@]{0,255}$`)

// cookieSecondsValue is a positive whole number without sign or exponent.
var cookieSecondsValue = regexp.MustCompile(`^[0-9]{1,10}$`)

// setBool parses booleans as every group does (strconv.ParseBool, so 1, t
// and TRUE too, like ingress-nginx's GetBoolAnnotation).
func setBool(set func(*Set, bool)) func(string, *Set) error {
	return func(v string, s *Set) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("is not true or false")
		}
		set(s, b)
		return nil
	}
}

// cookieSeconds accepts 1 to MaxCookieSeconds; 0 is refused because the
// struct reads 0 as "not set", and a cookie that dies at once is no affinity.
func cookieSeconds(set func(*Affinity, int)) func(string, *Set) error {
	return func(v string, s *Set) error {
		n, err := strconv.Atoi(v)
		if !cookieSecondsValue.MatchString(v) || err != nil || n < 1 || n > MaxCookieSeconds {
			return fmt.Errorf("is not a whole number of seconds from 1 to %d (ten years)", MaxCookieSeconds)
		}
		set(&s.Affinity, n)
		return nil
	}
}

func affinityFields() []Field {
	return inGroup("affinity", []Field{
		{Key: "affinity", Default: "", Allowed: "cookie", Risk: RiskLow,
			Doc: "pin each client to one endpoint with a cookie (session affinity)",
			apply: func(v string, s *Set) error {
				if v != "cookie" {
					return errors.New("is not cookie, the only affinity type")
				}
				a := &s.Affinity
				a.Type = v
				// Defaults here rather than in the model keep the Set
				// self-describing; the guards keep them from overwriting an
				// explicit key whatever the order keys are applied in.
				if a.CookieName == "" {
					a.CookieName = DefaultAffinityCookieName
				}
				if a.Mode == "" {
					a.Mode = DefaultAffinityMode
				}
				return nil
			}},
		{Key: "affinity-mode", Default: DefaultAffinityMode, Allowed: "balanced, persistent", Risk: RiskLow,
			Doc: "balanced re-pins some sessions when endpoints scale; persistent never moves a session",
			apply: func(v string, s *Set) error {
				switch v {
				case "balanced", "persistent":
					s.Affinity.Mode = v
					return nil
				}
				return errors.New("is not balanced or persistent")
			}},
		{Key: "session-cookie-name", Default: DefaultAffinityCookieName, Allowed: cookieTokenText, Risk: RiskLow,
			Doc: "name of the affinity cookie",
			apply: func(v string, s *Set) error {
				if !cookieToken.MatchString(v) {
					return errors.New("is not " + cookieTokenText)
				}
				s.Affinity.CookieName = v
				return nil
			}},
		{Key: "session-cookie-path", Default: "(the Ingress path)", Allowed: "an absolute path of at most 256 URL characters, without ; , $ or spaces", Risk: RiskLow,
			Doc: "Path attribute of the affinity cookie; set it when the paths are regular expressions",
			apply: func(v string, s *Set) error {
				if !cookiePath.MatchString(v) {
					return errors.New("is not an absolute path of at most 256 URL characters without ; , $ or spaces")
				}
				s.Affinity.CookiePath = v
				return nil
			}},
		{Key: "session-cookie-domain", Default: "(host-only cookie)", Allowed: "a DNS name, optionally with a leading dot", Risk: RiskLow,
			Doc: "Domain attribute of the affinity cookie",
			apply: func(v string, s *Set) error {
				d := strings.ToLower(v)
				if errs := validation.IsDNS1123Subdomain(strings.TrimPrefix(d, ".")); len(errs) > 0 {
					return errors.New("is not a DNS name (optionally with a leading dot)")
				}
				s.Affinity.CookieDomain = d
				return nil
			}},
		{Key: "session-cookie-max-age", Default: "", Allowed: fmt.Sprintf("whole seconds from 1 to %d", MaxCookieSeconds), Risk: RiskLow,
			Doc:   "Max-Age attribute of the affinity cookie; without it (and -expires) the cookie lasts the browser session",
			apply: cookieSeconds(func(a *Affinity, n int) { a.CookieMaxAge = n })},
		{Key: "session-cookie-expires", Default: "", Allowed: fmt.Sprintf("whole seconds from 1 to %d", MaxCookieSeconds), Risk: RiskLow,
			Doc:   "Expires attribute of the affinity cookie, in seconds from when it is set",
			apply: cookieSeconds(func(a *Affinity, n int) { a.CookieExpires = n })},
		{Key: "session-cookie-secure", Default: "false", Allowed: "true, false", Risk: RiskLow,
			Doc:   "Secure attribute of the affinity cookie",
			apply: setBool(func(s *Set, b bool) { s.Affinity.CookieSecure = b })},
		{Key: "session-cookie-samesite", Default: "", Allowed: "None, Lax, Strict (any case)", Risk: RiskLow,
			Doc: "SameSite attribute of the affinity cookie",
			apply: func(v string, s *Set) error {
				switch strings.ToLower(v) {
				case "none":
					s.Affinity.CookieSameSite = "None"
				case "lax":
					s.Affinity.CookieSameSite = "Lax"
				case "strict":
					s.Affinity.CookieSameSite = "Strict"
				default:
					return errors.New("is not None, Lax or Strict")
				}
				return nil
			}},
		{Key: "session-cookie-change-on-failure", Default: "false", Allowed: "true, false", Risk: RiskLow,
			Doc:   "when the pinned endpoint fails, pin the client to the next one instead of keeping the old cookie",
			apply: setBool(func(s *Set, b bool) { s.Affinity.CookieChangeOnFailure = b })},
	})
}
