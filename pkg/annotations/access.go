package annotations

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// Access limits who may use an Ingress and how fast.
type Access struct {
	// Allow are the client networks allowed (allowlist-source-range); empty allows all.
	Allow []string `json:"allow,omitempty"`
	// Deny are the client networks refused (denylist-source-range).
	Deny []string `json:"deny,omitempty"`
	// RPS is requests per second per client address; 0 is no limit.
	RPS int `json:"rps,omitempty"`
	// RPM is requests per minute per client address; 0 is no limit.
	RPM int `json:"rpm,omitempty"`
	// Connections is concurrent connections per client address; 0 is no limit.
	Connections int `json:"connections,omitempty"`
	// BurstMultiplier sizes the burst allowed above the rate (rate times this).
	BurstMultiplier int `json:"burstMultiplier,omitempty"`
	// LimitWhitelist are client networks the rate and connection limits skip (limit-allowlist).
	LimitWhitelist []string `json:"limitWhitelist,omitempty"`
}

// cidrList parses "10.0.0.0/8, 192.0.2.1" into canonical prefixes; a bare
// address is a /32 or /128. Canonical text is all that reaches nginx.conf.
func cidrList(v string) ([]string, error) {
	var out []string
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(part, "/") {
			p, err = netip.ParsePrefix(part)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(part)
			if err == nil {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || p.Addr().Zone() != "" {
			return nil, errors.New("has an entry that is not an IP address or CIDR: " + strconv.Quote(excerpt.Of(part)))
		}
		out = append(out, p.Masked().String())
	}
	if len(out) == 0 {
		return nil, errors.New("lists no address")
	}
	return out, nil
}

func positive(max int, set func(*Access, int)) func(string, *Set) error {
	return func(v string, s *Set) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > max {
			return errors.New("is not a whole number from 1 to " + strconv.Itoa(max))
		}
		set(&s.Access, n)
		return nil
	}
}

func cidrs(set func(*Access, []string)) func(string, *Set) error {
	return func(v string, s *Set) error {
		list, err := cidrList(v)
		if err != nil {
			return err
		}
		set(&s.Access, list)
		return nil
	}
}

// renamedKeys maps an older spelling to the current name of the same
// annotation (ingress-nginx's AnnotationAliases, plus blacklist for deny).
// When both are set the current name wins, as in ingress-nginx, so that a
// migrated Ingress keeps the exact list it was served with; a different
// value under the old name is a Conflict problem, never merged silently.
var renamedKeys = map[string]string{
	"whitelist-source-range": "allowlist-source-range",
	"blacklist-source-range": "denylist-source-range",
	"limit-whitelist":        "limit-allowlist",
}

func accessFields() []Field {
	const list = "comma-separated IP addresses or CIDRs"
	return inGroup("access", []Field{
		{Key: "allowlist-source-range", Default: "(everyone)", Allowed: list, Risk: RiskMedium,
			Doc:   "only these client networks may connect; others get 403",
			apply: cidrs(func(a *Access, l []string) { a.Allow = l })},
		{Key: "whitelist-source-range", Default: "(everyone)", Allowed: list, Risk: RiskMedium,
			Doc:   "older spelling of allowlist-source-range; when both are set, allowlist-source-range wins (ConflictingAnnotation if they differ)",
			apply: cidrs(func(a *Access, l []string) { a.Allow = l })},
		{Key: "denylist-source-range", Default: "(no one)", Allowed: list, Risk: RiskMedium,
			Doc:   "these client networks get 403",
			apply: cidrs(func(a *Access, l []string) { a.Deny = l })},
		// ingress-nginx never read this spelling; accepting it as a deny
		// list is stricter than ignoring it, and ignoring a deny list would
		// fail open.
		{Key: "blacklist-source-range", Default: "(no one)", Allowed: list, Risk: RiskMedium,
			Doc:   "other spelling of denylist-source-range; when both are set, denylist-source-range wins (ConflictingAnnotation if they differ)",
			apply: cidrs(func(a *Access, l []string) { a.Deny = l })},
		{Key: "limit-rps", Default: "0 (no limit)", Allowed: "1 to 100000", Risk: RiskLow,
			Doc:   "requests per second per client address; excess gets 503",
			apply: positive(100000, func(a *Access, n int) { a.RPS = n })},
		{Key: "limit-rpm", Default: "0 (no limit)", Allowed: "1 to 6000000", Risk: RiskLow,
			Doc:   "requests per minute per client address; excess gets 503",
			apply: positive(6000000, func(a *Access, n int) { a.RPM = n })},
		// nginx refuses limit_conn values from 65536 on.
		{Key: "limit-connections", Default: "0 (no limit)", Allowed: "1 to 65535", Risk: RiskLow,
			Doc:   "concurrent connections per client address; excess gets 503",
			apply: positive(65535, func(a *Access, n int) { a.Connections = n })},
		{Key: "limit-burst-multiplier", Default: "5", Allowed: "1 to 1000", Risk: RiskLow,
			Doc:   "burst allowed above limit-rps/limit-rpm, as a multiple of the rate",
			apply: positive(1000, func(a *Access, n int) { a.BurstMultiplier = n })},
		{Key: "limit-allowlist", Default: "(no one)", Allowed: list, Risk: RiskLow,
			Doc:   "client networks the rate and connection limits do not apply to",
			apply: cidrs(func(a *Access, l []string) { a.LimitWhitelist = l })},
		{Key: "limit-whitelist", Default: "(no one)", Allowed: list, Risk: RiskLow,
			Doc:   "older spelling of limit-allowlist; when both are set, limit-allowlist wins (ConflictingAnnotation if they differ)",
			apply: cidrs(func(a *Access, l []string) { a.LimitWhitelist = l })},
	})
}
