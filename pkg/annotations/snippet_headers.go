package annotations

import (
	"errors"
	"fmt"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
)

// Header values in snippets, and the headers-more module's directives
// (more_set_headers, more_clear_headers, more_set_input_headers,
// more_clear_input_headers), which ingress-nginx loads and its users'
// snippets use.

// lineBreakVariables may hold a line break the client chose: nginx
// percent-decodes $uri and $document_uri ("%0d%0a" becomes CR LF), and a
// request body or a PEM certificate holds raw lines. In a header value they
// let any client split the response or the request sent upstream
// (measured on nginx 1.22 with add_header, more_set_headers and
// proxy_set_header: GET /a%0d%0aX-Inj:%20yes added "X-Inj: yes").
var lineBreakVariables = []string{"uri", "document_uri", "request_body", "ssl_client_raw_cert", "ssl_client_cert"}

// readVariables lists the variables a checked value reads, lower case,
// regex captures as "1".."9". The value passed value() already.
func readVariables(s string) []string {
	var out []string
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			continue
		}
		i++
		if s[i] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				break
			}
			out = append(out, strings.ToLower(s[i+1:i+end]))
			i += end
			continue
		}
		if s[i] >= '0' && s[i] <= '9' {
			out = append(out, s[i:i+1])
			continue
		}
		j := i
		for j < len(s) && isVarChar(s[j]) {
			j++
		}
		out = append(out, strings.ToLower(s[i:j]))
		i = j - 1
	}
	return out
}

// mayBreakLine reports whether the variable name may hold a line break:
// a lineBreakVariables one, a regex capture (of a decoded $uri, mostly), or
// one the snippet sets from such a value.
func (c *snippetCheck) mayBreakLine(name string) bool {
	if len(name) == 1 && name[0] >= '0' && name[0] <= '9' {
		return true
	}
	return containsString(lineBreakVariables, name) || c.tainted[name]
}

// taint marks the variables the snippet sets from a value that may hold a
// line break, through chains of set, until nothing changes.
func (c *snippetCheck) taint(sets map[string][]string) {
	for changed := true; changed; {
		changed = false
		for name, values := range sets {
			if c.tainted[name] {
				continue
			}
			for _, v := range values {
				for _, r := range readVariables(v) {
					if c.mayBreakLine(r) {
						c.tainted[name], changed = true, true
					}
				}
			}
		}
	}
}

// headerValue checks a header value nginx expands variables in: what
// value() accepts, without a variable that may hold a line break.
func headerValue(c *snippetCheck, a *string) error {
	if err := value(c, a); err != nil {
		return err
	}
	for _, name := range readVariables(*a) {
		if c.mayBreakLine(name) {
			return fmt.Errorf("reads $%s in a header value: it may hold a line break the client chose (nginx percent-decodes $uri; "+
				"regex captures and request bodies hold what the client sent), which would split the message; use $request_uri", name)
		}
	}
	return nil
}

// moreHeaders is the checker of the four headers-more directives: options
// first (-s status codes, output only; -t content types; -r, only for
// more_set_input_headers), then at least one header. A header is
// "Name: value" (set), "Name:" or "Name" (clear); the clear directives take
// names, which may end in "*". Framing and hop-by-hop headers are refused
// (see framingHeaders), and on input also Host: nginx chose the server by
// it, and every host-keyed setting would read the new one.
func moreHeaders(input, set bool) func(*snippetCheck, *directive) error {
	return func(c *snippetCheck, d *directive) error {
		args := d.Args
		headers := 0
		for i := 0; i < len(args); i++ {
			a := args[i]
			// An option is "-" and one letter: s (status codes), t (MIME
			// types), r (replace only).
			opt := byte(0)
			if len(a) == 2 && a[0] == '-' {
				opt = a[1]
			}
			switch {
			case opt == 's' || opt == 't':
				if opt == 's' && input {
					return errors.New("-s (status codes) is for response headers only")
				}
				if headers > 0 {
					return fmt.Errorf("%s stands after a header; options come first", a)
				}
				if i+1 >= len(args) {
					return fmt.Errorf("%s needs a list", a)
				}
				i++
				if err := moreOptionList(opt, args[i]); err != nil {
					return err
				}
			case opt == 'r':
				if !input || !set {
					return errors.New("-r (replace only) is for more_set_input_headers only")
				}
				if headers > 0 {
					return errors.New("-r stands after a header; options come first")
				}
			case strings.HasPrefix(a, "-"):
				return fmt.Errorf("%q is not an option headers-more takes here (-s, -t, and -r on input)", excerpt.Of(a))
			default:
				headers++
				if err := moreHeader(c, &args[i], input, set); err != nil {
					return err
				}
			}
		}
		if headers == 0 {
			return errors.New("names no header")
		}
		return nil
	}
}

// moreOptionList checks the list after -s (status codes 100-599) or -t
// (MIME types), space separated; nginx reads several of one option as one
// list. opt is the option's letter.
func moreOptionList(opt byte, list string) error {
	items := strings.Fields(list)
	if len(items) == 0 || len(items) > 32 {
		return fmt.Errorf("-%c %q is not a list of 1 to 32 items", opt, excerpt.Of(list))
	}
	for _, it := range items {
		if opt == 's' {
			if !statusValue.MatchString(it) {
				return fmt.Errorf("-s %q is not a status code from 100 to 599", excerpt.Of(it))
			}
			continue
		}
		if !mimeValue.MatchString(it) {
			return fmt.Errorf("-t %q is not a MIME type", excerpt.Of(it))
		}
	}
	return nil
}

// moreHeader checks one header argument of a headers-more directive and
// prints it canonical: "Name: value", or "Name" to clear.
func moreHeader(c *snippetCheck, a *string, input, set bool) error {
	name, val, hasValue := strings.Cut(*a, ":")
	name = strings.TrimSpace(name)
	val = strings.TrimLeft(val, " \t")
	wildcard := false
	if !set {
		if hasValue && val != "" {
			return fmt.Errorf("%q: the clear directives take header names, not values", excerpt.Of(*a))
		}
		if n, ok := strings.CutSuffix(name, "*"); ok {
			name, wildcard = n, true
		}
	}
	if !headerNameValue.MatchString(name) {
		return fmt.Errorf("%q is not a header name (letters, digits, - and _)", excerpt.Of(name))
	}
	for _, f := range framingHeaders {
		if wildcard && strings.HasPrefix(f, strings.ToLower(name)) || !wildcard && strings.EqualFold(f, name) {
			return fmt.Errorf("%s may not be set or cleared: nginx frames the message with it (a wrong one desynchronises the connection, "+
				"which proxies in front share between hosts)", *a)
		}
	}
	if input && (strings.EqualFold(name, "host") || wildcard && strings.HasPrefix("host", strings.ToLower(name))) {
		return fmt.Errorf("%s may not be changed: nginx chose the server by it; upstream-vhost sets the Host sent to the backend", *a)
	}
	if wildcard {
		*a = name + "*"
		return nil
	}
	if !hasValue || val == "" {
		*a = name
		return nil
	}
	if err := headerValue(c, &val); err != nil {
		return err
	}
	*a = name + ": " + val
	return nil
}
