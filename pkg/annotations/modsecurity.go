package annotations

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// ModSecurity is ingress-nginx's enable-modsecurity family.
type ModSecurity struct {
	// Enabled turns ModSecurity on for the Ingress's locations.
	Enabled bool `json:"enabled,omitempty"`
	// Disabled is enable-modsecurity: "false" written out: with the
	// ConfigMap's enable-modsecurity on, the Ingress's locations run
	// without ModSecurity (ingress-nginx's "modsecurity off").
	Disabled bool `json:"disabled,omitempty"`
	// OWASPCoreRules loads the OWASP Core Rule Set (with Enabled).
	OWASPCoreRules bool `json:"owaspCoreRules,omitempty"`
	// TransactionID is the transaction ID: an allowed nginx variable or a plain token.
	TransactionID string `json:"transactionID,omitempty"`
	// Snippet are the allowed ModSecurity directives, one a line; the model
	// uses them only where the operator allows snippets.
	Snippet []string `json:"snippet,omitempty"`
}

// ModSecurityTransactionVariables are the nginx variables
// modsecurity-transaction-id may name: per-request values, never a header
// a client chooses.
var ModSecurityTransactionVariables = []string{"$request_id", "$req_id", "$connection", "$msec"}

var (
	plainToken = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	// The modsecurity-snippet allowlist: directives that switch the engine
	// or remove rules from this location's set. SecRule, SecAction and
	// every directive naming a file (Include, SecAuditLog, @pmFromFile...)
	// are refused: they could read the controller's files or log them.
	modsecDirectives = []*regexp.Regexp{
		regexp.MustCompile(`^SecRuleEngine[ \t]+(On|Off|DetectionOnly)$`),
		regexp.MustCompile(`^SecRuleRemoveById([ \t]+[0-9]{1,9}(-[0-9]{1,9})?){1,64}$`),
		regexp.MustCompile(`^SecRuleRemoveByTag[ \t]+[A-Za-z0-9_./-]{1,64}$`),
		regexp.MustCompile(`^SecRequestBodyAccess[ \t]+(On|Off)$`),
		regexp.MustCompile(`^SecResponseBodyAccess[ \t]+(On|Off)$`),
	}
)

// The rules files of ingress-nginx's image that its users Include in a
// modsecurity-snippet (its docs' example does): the base rules and the OWASP
// Core Rule Set. An Include of exactly one of these paths is read as a
// name, never as a file: the base rules are always loaded, and the Core
// Rule Set is switched on (Debian's copy, the operator's path).
const (
	// IngressNginxModSecurityConf is ingress-nginx's base rules file.
	IngressNginxModSecurityConf = "/etc/nginx/modsecurity/modsecurity.conf"
	// IngressNginxCRSConf is ingress-nginx's file loading the Core Rule Set.
	IngressNginxCRSConf = "/etc/nginx/owasp-modsecurity-crs/nginx-modsecurity.conf"
)

// CheckModSecuritySnippet returns the directive lines of a
// modsecurity-snippet (annotation or ConfigMap key) and whether it
// Includes ingress-nginx's Core Rule Set file, or an error naming the first
// line outside the allowlist. Blank lines, # comments and the Includes of
// ingress-nginx's two rules files are dropped.
func CheckModSecuritySnippet(v string) (lines []string, coreRules bool, err error) {
	var out []string
	aliases := 0
	for _, line := range strings.Split(v, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if f := strings.Fields(line); len(f) == 2 && f[0] == "Include" && (f[1] == IngressNginxModSecurityConf || f[1] == IngressNginxCRSConf) {
			coreRules = coreRules || f[1] == IngressNginxCRSConf
			aliases++
			continue
		}
		ok := false
		for _, re := range modsecDirectives {
			if re.MatchString(line) {
				ok = true
				break
			}
		}
		if !ok {
			return nil, false, errors.New("has a line outside the ModSecurity allowlist: " + strconv.Quote(excerpt.Of(line)))
		}
		if err := checkIDRanges(line); err != nil {
			return nil, false, err
		}
		out = append(out, line)
	}
	if len(out) == 0 && aliases == 0 {
		return nil, false, errors.New("has no directive")
	}
	return out, coreRules, nil
}

// checkIDRanges refuses a SecRuleRemoveById range whose end is below its
// start: libmodsecurity refuses it too, and nginx -t would fail (measured
// with "5-3"; for the ConfigMap's snippet that is every Ingress's config).
func checkIDRanges(line string) error {
	if !strings.HasPrefix(line, "SecRuleRemoveById") {
		return nil
	}
	for _, f := range strings.Fields(line)[1:] {
		lo, hi, isRange := strings.Cut(f, "-")
		if !isRange {
			continue
		}
		// The allowlist let through 1 to 9 digits on each side.
		a, errA := strconv.Atoi(lo)
		b, errB := strconv.Atoi(hi)
		if errA != nil || errB != nil || a > b {
			return errors.New("has a rule ID range whose end is below its start: " + strconv.Quote(excerpt.Of(f)))
		}
	}
	return nil
}

func modSecurityFields() []Field {
	return inGroup("modsecurity", []Field{
		{Key: "enable-modsecurity", Default: "false", Allowed: "true, false", Risk: RiskLow,
			Doc: "run ModSecurity on the Ingress's paths with Debian's recommended base rules (SecRuleEngine DetectionOnly); without the nginx module the Ingress is not served. \"false\" turns off the ConfigMap's enable-modsecurity for the Ingress's paths, as in ingress-nginx (with the ConfigMap's on, the other ModSecurity annotations apply without \"true\")",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.ModSecurity.Enabled, s.ModSecurity.Disabled = b, !b
				return nil
			}},
		{Key: "enable-owasp-core-rules", Default: "false", Allowed: "true, false", Risk: RiskLow,
			Doc: "with enable-modsecurity (this annotation's or the ConfigMap's), also load the OWASP Core Rule Set for the Ingress's paths",
			apply: func(v string, s *Set) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("is not true or false")
				}
				s.ModSecurity.OWASPCoreRules = b
				return nil
			}},
		{Key: "modsecurity-transaction-id", Allowed: "one of " + strings.Join(ModSecurityTransactionVariables, ", ") + ", or a token of letters, digits, . _ - (up to 64)", Risk: RiskLow,
			Doc: "ModSecurity's transaction ID for the Ingress's paths",
			apply: func(v string, s *Set) error {
				if !plainToken.MatchString(v) && !slices.Contains(ModSecurityTransactionVariables, v) {
					return errors.New("is neither an allowed variable nor a plain token")
				}
				s.ModSecurity.TransactionID = v
				return nil
			}},
		{Key: "modsecurity-snippet", Allowed: "lines of SecRuleEngine On/Off/DetectionOnly, SecRuleRemoveById IDs or ranges, SecRuleRemoveByTag TAG, SecRequestBodyAccess On/Off, SecResponseBodyAccess On/Off, and Include of ingress-nginx's " + IngressNginxModSecurityConf + " (the base rules, always loaded) or " + IngressNginxCRSConf + " (the Core Rule Set); only in namespaces allowed snippets (elsewhere the paths answer 503)", Risk: RiskMedium,
			Doc: "ModSecurity directives for the Ingress's paths only: its settings win over the base rules' on those paths and its removals act there, on the rules read once for the whole config",
			apply: func(v string, s *Set) error {
				lines, coreRules, err := CheckModSecuritySnippet(v)
				if err != nil {
					return err
				}
				// Applied after enable-owasp-core-rules (keys go in order):
				// an Include of the Core Rule Set loads it, as in ingress-nginx.
				s.ModSecurity.OWASPCoreRules = s.ModSecurity.OWASPCoreRules || coreRules
				s.ModSecurity.Snippet = lines
				return nil
			}},
	})
}
