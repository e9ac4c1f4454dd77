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
	// Allow are the client networks allowed (whitelist-source-range); empty allows all.
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
	// LimitWhitelist are client networks the rate and connection limits skip.
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

func accessFields() []Field {
	f := func(key, def, allowed, doc string, risk Risk, apply func(string, *Set) error) Field {
		return Field{Key: key, Group: "access", Scope: ScopeLocation, Risk: risk, Default: def, Allowed: allowed, Doc: doc, apply: apply}
	}
	const list = "comma-separated IP addresses or CIDRs"
	return []Field{
		f("whitelist-source-range", "(everyone)", list, "only these client networks may connect; others get 403", RiskMedium,
			cidrs(func(a *Access, l []string) { a.Allow = l })),
		f("denylist-source-range", "(no one)", list, "these client networks get 403", RiskMedium,
			cidrs(func(a *Access, l []string) { a.Deny = l })),
		f("limit-rps", "0 (no limit)", "1 to 100000", "requests per second per client address; excess gets 503", RiskLow,
			positive(100000, func(a *Access, n int) { a.RPS = n })),
		f("limit-rpm", "0 (no limit)", "1 to 6000000", "requests per minute per client address; excess gets 503", RiskLow,
			positive(6000000, func(a *Access, n int) { a.RPM = n })),
		// nginx refuses limit_conn values from 65536 on.
		f("limit-connections", "0 (no limit)", "1 to 65535", "concurrent connections per client address; excess gets 503", RiskLow,
			positive(65535, func(a *Access, n int) { a.Connections = n })),
		f("limit-burst-multiplier", "5", "1 to 1000", "burst allowed above limit-rps/limit-rpm, as a multiple of the rate", RiskLow,
			positive(1000, func(a *Access, n int) { a.BurstMultiplier = n })),
		f("limit-whitelist", "(no one)", list, "client networks the rate and connection limits do not apply to", RiskLow,
			cidrs(func(a *Access, l []string) { a.LimitWhitelist = l })),
	}
}
