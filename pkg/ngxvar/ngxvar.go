// Package ngxvar parses values that may name nginx variables (as
// ingress-nginx users write them in auth-url, auth-signin and the like) into
// literal and variable parts, checks every variable against a fixed
// allowlist of read-only variables, and renders the value back from the
// parts. The user's text never reaches nginx.conf as written: literals hold
// no "$", and every variable is printed in brace form from its checked name.
package ngxvar

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Part is one piece of a value: a literal or a variable.
type Part struct {
	// Literal is text without "$" or control characters (when Var is "").
	Literal string
	// Var is the variable's lower-cased name without "$", or "".
	Var string
}

// Value is a parsed value: literals and allowlisted variables in order.
type Value []Part

// fixed are the whole-name read-only variables of the allowlist.
var fixed = map[string]bool{
	"host": true, "http_host": true, "scheme": true, "request_uri": true,
	"escaped_request_uri": true, "args": true,
	"remote_addr": true, "server_port": true,
	// msec is the request's time in seconds with milliseconds
	// (X-Request-Start: t=${msec}, ingress-nginx's custom-headers example).
	"msec": true,
}

// prefixed are the families whose NAME part the client chooses.
var prefixed = []string{"arg_", "http_", "cookie_"}

// nameChars is what nginx reads as a variable name after "$".
var nameChars = regexp.MustCompile(`^[A-Za-z0-9_]+`)

// suffix restricts NAME of $arg_NAME, $http_NAME and $cookie_NAME.
var suffix = regexp.MustCompile(`^[a-z0-9_]{1,64}$`)

// Allowed reports whether name (lower-case, without "$") is on the allowlist.
func Allowed(name string) bool {
	if fixed[name] {
		return true
	}
	for _, p := range prefixed {
		if rest, ok := strings.CutPrefix(name, p); ok {
			return suffix.MatchString(rest)
		}
	}
	return false
}

// ClientControlled reports whether the client chooses the variable's value
// (headers, cookies, arguments, the request URI, and the Host header).
func ClientControlled(name string) bool {
	switch name {
	case "scheme", "remote_addr", "server_port", "msec":
		return false
	}
	return true
}

// Decoded reports whether nginx percent-decodes the variable's value from
// the request: $uri holds a CR LF for "%0d%0a" in the path, so in a header
// value (add_header, proxy_set_header, a redirect's Location) it lets any
// client split the response or the request sent upstream (measured on
// nginx 1.22: "GET /a%0d%0aX-Inj:%20yes" added the header "X-Inj: yes",
// with add_header, proxy_set_header and return 302). It is therefore off
// the allowlist and Parse names it; $request_uri is the raw, undecoded
// form and is safe there.
func Decoded(name string) bool {
	return name == "uri"
}

// Credential reports whether the variable carries the client's
// credentials (Authorization, cookies). A redirect URL must not hold one:
// it lands in the Location header, browser history, other sites' logs and
// Referer (the variables payload of CVE-2023-5044's test).
func Credential(name string) bool {
	switch name {
	case "http_authorization", "http_proxy_authorization", "http_cookie":
		return true
	}
	return strings.HasPrefix(name, "cookie_")
}

// Parse splits s into parts. "$name" and "${name}" are variables; any
// variable off the allowlist, a lone "$" and control characters are errors
// that name what was refused.
func Parse(s string) (Value, error) {
	if len(s) > 4096 {
		return nil, errors.New("is longer than 4096 bytes")
	}
	var out Value
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			out = append(out, Part{Literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return nil, errors.New("has a control character")
		}
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		var name string
		rest := s[i+1:]
		if strings.HasPrefix(rest, "{") {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				return nil, errors.New("has ${ without }")
			}
			name = rest[1:end]
			if !nameChars.MatchString(name) || len(nameChars.FindString(name)) != len(name) {
				return nil, fmt.Errorf("has ${...} without a variable name")
			}
			i += 1 + end + 1
		} else {
			name = nameChars.FindString(rest)
			if name == "" {
				return nil, errors.New("has a $ that starts no variable")
			}
			i += 1 + len(name)
		}
		name = strings.ToLower(name)
		if Decoded(name) {
			return nil, fmt.Errorf("names $%s, which nginx percent-decodes: a client's %%0d%%0a would put a line break in the header or "+
				"redirect it stands in; use $request_uri, the raw form", name)
		}
		if !Allowed(name) {
			return nil, fmt.Errorf("names the variable $%.64s, which is not on the allowlist (docs/annotations.md, nginx variables)", name)
		}
		flush()
		out = append(out, Part{Var: name})
	}
	flush()
	return out, nil
}

// String renders the value: literals as they are (they hold no "$") and
// variables as ${name}, so no following literal can extend a name. The
// result still goes through ngxconf.Quote on its way into nginx.conf.
func (v Value) String() string {
	var b strings.Builder
	for _, p := range v {
		if p.Var != "" {
			b.WriteString("${" + p.Var + "}")
		} else {
			b.WriteString(p.Literal)
		}
	}
	return b.String()
}

// Vars lists the variable names of the value in order.
func (v Value) Vars() []string {
	var out []string
	for _, p := range v {
		if p.Var != "" {
			out = append(out, p.Var)
		}
	}
	return out
}

// Uses reports whether the value names the variable.
func (v Value) Uses(name string) bool {
	for _, p := range v {
		if p.Var == name {
			return true
		}
	}
	return false
}

// URLRule says which variables may stand before the path of a URL.
type URLRule int

const (
	// Connect is a URL nginx connects to (auth-url): no variable may stand
	// in its scheme, host or port, so no client chooses where nginx sends
	// a request.
	Connect URLRule = iota
	// Redirect is a URL sent to the client (auth-signin, redirects): the
	// scheme may be $scheme and the host $host (matched against
	// server_name, so one of the Ingress's hosts); nothing else.
	Redirect
)

// urlLiteral allowlists the literal characters of a URL: no quotes,
// braces, ";", "\\" or spaces.
var urlLiteral = regexp.MustCompile(`^[A-Za-z0-9\-._~:/?#\[\]@!&'()*+,=%]*$`)

// hostLiteral is what may stand in a literal host[:port].
var hostLiteral = regexp.MustCompile(`^[A-Za-z0-9\-.\[\]:]+$`)

// portLiteral is the :port that may follow $host.
var portLiteral = regexp.MustCompile(`^:[0-9]{1,5}$`)

// pathStart are the variables whose value always starts with "/".
var pathStart = map[string]bool{"request_uri": true}

// ParseURL parses an absolute http(s) URL that may hold variables, and
// checks where they stand under rule. It returns the parsed value.
func ParseURL(s string, rule URLRule) (Value, error) {
	if len(s) > 2048 {
		return nil, errors.New("is longer than 2048 bytes")
	}
	v, err := Parse(s)
	if err != nil {
		return nil, err
	}
	for _, p := range v {
		if p.Var == "" && !urlLiteral.MatchString(p.Literal) {
			return nil, errors.New("is not an absolute http(s) URL without quotes, braces, ; or spaces")
		}
	}
	if rule == Redirect {
		for _, p := range v {
			if Credential(p.Var) {
				return nil, fmt.Errorf("has the variable $%s, the client's credentials, which a redirect would hand to the next site", p.Var)
			}
		}
	}
	// Split into scheme, authority and the rest, part by part.
	var scheme, authority Value
	i := 0
	// scheme: parts up to "://"
	rest := v
	schemeDone := false
	for i = 0; i < len(rest); i++ {
		p := rest[i]
		if p.Var != "" {
			scheme = append(scheme, p)
			continue
		}
		if idx := strings.Index(p.Literal, "://"); idx >= 0 {
			if idx > 0 {
				scheme = append(scheme, Part{Literal: p.Literal[:idx]})
			}
			tail := p.Literal[idx+3:]
			rest = append(Value{}, rest[i+1:]...)
			if tail != "" {
				rest = append(Value{{Literal: tail}}, rest...)
			}
			schemeDone = true
			break
		}
		scheme = append(scheme, p)
	}
	if !schemeDone {
		return nil, errors.New("is not an absolute http(s) URL")
	}
	switch {
	case len(scheme) == 1 && scheme[0].Var == "" && (strings.EqualFold(scheme[0].Literal, "http") || strings.EqualFold(scheme[0].Literal, "https")):
	case len(scheme) == 1 && scheme[0].Var == "scheme" && rule == Redirect:
	default:
		return nil, errors.New("does not start with http://, https:// (or $scheme:// in a redirect)")
	}
	// authority: parts up to the first "/", "?" or "#".
	for i = 0; i < len(rest); i++ {
		p := rest[i]
		if pathStart[p.Var] && i > 0 {
			// $request_uri always starts with "/": the path begins
			// here (https://new.example.com$request_uri).
			break
		}
		if p.Var != "" {
			authority = append(authority, p)
			continue
		}
		if idx := strings.IndexAny(p.Literal, "/?#"); idx >= 0 {
			if idx > 0 {
				authority = append(authority, Part{Literal: p.Literal[:idx]})
			}
			break
		}
		authority = append(authority, p)
	}
	if len(authority) == 0 {
		return nil, errors.New("is not an absolute http(s) URL with a host")
	}
	for j, p := range authority {
		if p.Var == "" {
			if !hostLiteral.MatchString(p.Literal) {
				return nil, errors.New("has a host that is not letters, digits, -, . and :port")
			}
			continue
		}
		if rule == Redirect && p.Var == "host" && j == 0 {
			continue
		}
		if rule == Connect {
			return nil, fmt.Errorf("has the variable $%s in its scheme, host or port: nginx connects there, so only the path and query may hold variables", p.Var)
		}
		return nil, fmt.Errorf("has the variable $%s in its host or port: only $host (a host the server matched) may stand there", p.Var)
	}
	if authority[0].Var == "" {
		if _, err := url.Parse("http://" + authority[0].Literal + "/"); err != nil || strings.HasPrefix(authority[0].Literal, ":") {
			return nil, errors.New("is not an absolute http(s) URL with a host")
		}
	} else if len(authority) > 1 && !portLiteral.MatchString(authority[1].Literal) {
		return nil, errors.New("has something other than :port after $host")
	}
	return v, nil
}

// Names lists the allowlist for the docs: the fixed names, then the
// families as prefix plus NAME, all with "$".
func Names() []string {
	var out []string
	for n := range fixed {
		out = append(out, "$"+n)
	}
	slices.Sort(out)
	for _, p := range prefixed {
		out = append(out, "$"+p+"NAME")
	}
	return out
}
