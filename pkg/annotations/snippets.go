package annotations

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/portico-ingress/portico/pkg/excerpt"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/pkg/pcre"
)

// Snippets are nginx directives from the configuration-snippet and
// server-snippet annotations. They are off unless the operator allows them
// for the Ingress's namespace (the model checks that). Here each snippet
// is parsed into a directive tree and checked against an allowlist
// (snippetRules in snippet_directives.go, issue 10, class 6): every
// directive must be in the table, stand where its rule allows, and have
// arguments its checker accepts. Regexes are replaced in the tree by the
// pattern pkg/pcre prints, with a match limit, so the tree the template
// prints holds only what was checked, every argument quoted.
type Snippets struct {
	// Location are configuration-snippet's directives.
	Location []*ngxconf.Directive `json:"location,omitempty"`
	// Server are server-snippet's directives.
	Server []*ngxconf.Directive `json:"server,omitempty"`
}

// directive keeps the checkers' signatures short.
type directive = ngxconf.Directive

// Snippet limits.
const (
	// snippetRegexSteps bounds PCRE's work per match on each regex of a
	// snippet, as regexStepBudget does for regex paths: about 1-2 ms of
	// worker CPU. pkg/pcre refuses the exponential shapes.
	snippetRegexSteps = 100_000
	// maxSnippetBytes bounds an annotation value.
	maxSnippetBytes = 16384
	// maxSnippetDirectives bounds the directives of one snippet, blocks
	// included: each costs parse time at every nginx -t and reload.
	maxSnippetDirectives = 200
	// maxSnippetArg bounds one argument.
	maxSnippetArg = 4096
	// snippetDocs is where errors send the reader.
	snippetDocs = "docs/snippets.md"
)

// directiveName allowlists nginx directive names.
var directiveName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// snippetCheck is the state of checking one snippet.
type snippetCheck struct {
	// sets are the variables the snippet sets itself (lower case): it may read them.
	sets map[string]bool
	// tainted are those of sets whose value may hold a line break
	// (snippet_headers.go): no header value may read them.
	tainted map[string]bool
	// count is the number of directives seen.
	count int
}

// parseSnippet parses and checks one snippet whose top level is top.
func parseSnippet(v string, top snippetContext) ([]*ngxconf.Directive, error) {
	if len(v) > maxSnippetBytes {
		return nil, errors.New("is longer than 16 KiB")
	}
	dirs, err := ngxconf.Parse(v)
	if err != nil {
		return nil, fmt.Errorf("does not parse as nginx directives: %v", err)
	}
	if len(dirs) == 0 {
		return nil, errors.New("holds no directive")
	}
	c := &snippetCheck{sets: map[string]bool{}, tainted: map[string]bool{}}
	setValues := map[string][]string{}
	ngxconf.Walk(dirs, func(_ []string, d *ngxconf.Directive) {
		if d.Name == "set" && len(d.Args) > 0 {
			if name, ok := strings.CutPrefix(d.Args[0], "$"); ok {
				c.sets[strings.ToLower(name)] = true
				if len(d.Args) > 1 {
					setValues[strings.ToLower(name)] = append(setValues[strings.ToLower(name)], d.Args[1])
				}
			}
		}
	})
	c.taint(setValues)
	if err := c.block(dirs, top); err != nil {
		return nil, err
	}
	return dirs, nil
}

// block checks the directives of one block standing in ctx, then what
// nginx checks across a block: duplicates, and settings that must agree.
func (c *snippetCheck) block(dirs []*directive, ctx snippetContext) error {
	seen := map[string]*directive{}
	for _, d := range dirs {
		c.count++
		if c.count > maxSnippetDirectives {
			return fmt.Errorf("has more than %d directives", maxSnippetDirectives)
		}
		if err := c.directive(d, ctx); err != nil {
			return err
		}
		if first, dup := seen[d.Name]; dup && !snippetRules[d.Name].repeat {
			return fmt.Errorf("line %d: %s appears twice in one block (first on line %d); nginx refuses that", d.Line, d.Name, first.Line)
		}
		if _, dup := seen[d.Name]; !dup {
			seen[d.Name] = d
		}
	}
	for _, name := range []string{"proxy_redirect", "proxy_cookie_domain", "proxy_cookie_path", "proxy_cookie_flags"} {
		if err := offAlone(dirs, name); err != nil {
			return err
		}
	}
	return bufferTrio(dirs)
}

// directive checks one directive standing in ctx, and its block.
func (c *snippetCheck) directive(d *directive, ctx snippetContext) error {
	if !directiveName.MatchString(d.Name) {
		return fmt.Errorf("line %d: has a directive name that is not lower-case letters, digits and _: %q", d.Line, excerpt.Of(d.Name))
	}
	rule, ok := snippetRules[d.Name]
	if !ok {
		if why := refusedReason(d.Name); why != "" {
			return fmt.Errorf("line %d: %s is not allowed in snippets: %s; see %s", d.Line, d.Name, why, snippetDocs)
		}
		return fmt.Errorf("line %d: %s is not in the snippet allowlist; see %s for the directives snippets may use", d.Line, d.Name, snippetDocs)
	}
	if ctx&rule.contexts == 0 {
		return fmt.Errorf("line %d: %s is not allowed in %s (only in %s; see %s)", d.Line, d.Name, ctx, rule.contexts, snippetDocs)
	}
	for _, a := range d.Args {
		if err := plainArg(a); err != nil {
			return fmt.Errorf("line %d: %s: %w", d.Line, d.Name, err)
		}
	}
	switch n := len(d.Args); {
	case rule.maxArgs == noArgs && n > 0:
		return fmt.Errorf("line %d: %s takes no argument", d.Line, d.Name)
	case n < rule.minArgs || rule.maxArgs > 0 && n > rule.maxArgs:
		return fmt.Errorf("line %d: %s has %d arguments; it takes %s", d.Line, d.Name, n, rule.args)
	}
	if (rule.block != nil) != d.HasBlock() {
		if rule.block != nil {
			return fmt.Errorf("line %d: %s needs a block { ... }", d.Line, d.Name)
		}
		return fmt.Errorf("line %d: %s takes no block", d.Line, d.Name)
	}
	if rule.check != nil {
		if err := rule.check(c, d); err != nil {
			return fmt.Errorf("line %d: %s: %w", d.Line, d.Name, err)
		}
	}
	if rule.block != nil {
		return c.block(d.Block, rule.block(ctx))
	}
	return nil
}

// plainArg refuses what no argument may hold: control characters (nginx
// would print them in its own error messages and logs) and huge values.
func plainArg(a string) error {
	if len(a) > maxSnippetArg {
		return fmt.Errorf("has an argument longer than %d bytes", maxSnippetArg)
	}
	for i := 0; i < len(a); i++ {
		if c := a[i]; c < 0x20 || c == 0x7f {
			return fmt.Errorf("has the control character 0x%02x in an argument", c)
		}
	}
	return nil
}

// offAlone: "off" may not share a block with another of the same
// directive (nginx: "is duplicate").
func offAlone(dirs []*directive, name string) error {
	var off, other *directive
	for _, d := range dirs {
		if d.Name != name {
			continue
		}
		if len(d.Args) == 1 && d.Args[0] == "off" {
			off = d
		} else {
			other = d
		}
		if off != nil && other != nil {
			return fmt.Errorf("line %d: %s off cannot share a block with another %s; nginx refuses that", off.Line, name, name)
		}
	}
	return nil
}

// bufferTrio: nginx requires proxy_busy_buffers_size to be at least the
// larger of proxy_buffer_size and one proxy_buffers buffer, and less than
// all proxy_buffers but one, with the values a block inherits. A snippet
// cannot see what its block inherits (the server level, the proxy-buffer-
// size annotation), so it sets all three in one block or none.
func bufferTrio(dirs []*directive) error {
	var size, buffers, busy *directive
	for _, d := range dirs {
		switch d.Name {
		case "proxy_buffer_size":
			size = d
		case "proxy_buffers":
			buffers = d
		case "proxy_busy_buffers_size":
			busy = d
		}
	}
	if size == nil && buffers == nil && busy == nil {
		return nil
	}
	if size == nil || buffers == nil || busy == nil {
		first := earliest(size, buffers, busy)
		return fmt.Errorf("line %d: proxy_buffer_size, proxy_buffers and proxy_busy_buffers_size go together in one block: nginx requires them to agree", first.Line)
	}
	b, _ := sizeBytes(size.Args[0])
	n, _ := strconv.Atoi(buffers.Args[0])
	s, _ := sizeBytes(buffers.Args[1])
	u, _ := sizeBytes(busy.Args[0])
	if u < max(b, s) || u > int64(n-1)*s {
		return fmt.Errorf("line %d: proxy_busy_buffers_size must be at least proxy_buffer_size and one of proxy_buffers, and at most all proxy_buffers but one (%d-%d bytes here)", busy.Line, max(b, s), int64(n-1)*s)
	}
	return nil
}

// earliest is the directive of ds (nil ones skipped) on the first line.
func earliest(ds ...*directive) *directive {
	var first *directive
	for _, d := range ds {
		if d != nil && (first == nil || d.Line < first.Line) {
			first = d
		}
	}
	return first
}

// argCheck checks one argument and may replace it by a canonical form.
type argCheck func(c *snippetCheck, a *string) error

// argsEach applies f to every argument.
func argsEach(f argCheck) func(*snippetCheck, *directive) error {
	return func(c *snippetCheck, d *directive) error {
		for i := range d.Args {
			if err := f(c, &d.Args[i]); err != nil {
				return err
			}
		}
		return nil
	}
}

// value checks an argument nginx expands variables in: every "$" must
// start a variable the snippet may read (readableVariable) or a regex
// capture $1-$9. nginx has no escape for a literal "$".
func value(c *snippetCheck, a *string) error {
	s := *a
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			continue
		}
		i++
		switch {
		case i >= len(s):
			return errors.New(`has a "$" at the end of a value; nginx has no literal "$"`)
		case s[i] >= '1' && s[i] <= '9':
			// A capture of the last regex that matched. nginx reads only
			// one digit, and $0 as the name of a variable.
		case s[i] == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return errors.New(`has "${" without "}"`)
			}
			if err := c.read(s[i+1 : i+end]); err != nil {
				return err
			}
			i += end
		default:
			j := i
			for j < len(s) && isVarChar(s[j]) {
				j++
			}
			if j == i {
				return fmt.Errorf(`has a "$" not followed by a variable name (%q); nginx has no literal "$"`, excerpt.Of(s[i-1:]))
			}
			if err := c.read(s[i:j]); err != nil {
				return err
			}
			i = j - 1
		}
	}
	return nil
}

func isVarChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// read checks one variable name read by the snippet. nginx matches
// variable names without regard to case.
func (c *snippetCheck) read(name string) error {
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !isVarChar(byte(r)) }) >= 0 {
		return fmt.Errorf("has an invalid variable name %q", excerpt.Of(name))
	}
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "portico") {
		return fmt.Errorf("reads $%s: variables starting with portico are Portico's own (route, generation), never a snippet's", excerpt.Of(name))
	}
	if !readableVariable(lower, c.sets) {
		return fmt.Errorf("reads $%s, which is neither an nginx variable a snippet may read nor one this snippet sets (nginx -t refuses unknown variables); see %s", excerpt.Of(name), snippetDocs)
	}
	return nil
}

// onOffArg accepts on or off, as nginx does in any case, and prints it lower case.
func onOffArg(_ *snippetCheck, a *string) error {
	switch strings.ToLower(*a) {
	case "on", "off":
		*a = strings.ToLower(*a)
		return nil
	}
	return fmt.Errorf("%q is not on or off", excerpt.Of(*a))
}

// oneOf accepts one of values, exactly.
func oneOf(values ...string) argCheck {
	return func(_ *snippetCheck, a *string) error {
		if slices.Contains(values, *a) {
			return nil
		}
		return fmt.Errorf("%q is not one of %s", excerpt.Of(*a), strings.Join(values, ", "))
	}
}

// intRange accepts a whole number from lo to hi.
func intRange(lo, hi int) argCheck {
	return func(_ *snippetCheck, a *string) error {
		n, err := strconv.Atoi(*a)
		if err != nil || n < lo || n > hi || strconv.Itoa(n) != *a {
			return fmt.Errorf("%q is not a number from %d to %d", excerpt.Of(*a), lo, hi)
		}
		return nil
	}
}

// Time limits.
const (
	// maxTimeout bounds timeouts like the proxy-*-timeout annotations do.
	maxTimeout     = 999_999 // seconds
	maxTimeoutText = "999999s"
	// maxExpires bounds expires: ten years.
	maxExpires = 10 * 365 * 24 * 3600
)

// timeUnits are nginx's time units in the order nginx requires them,
// with their length in milliseconds.
var timeUnits = []struct {
	unit string
	ms   int64
}{{"y", 365 * 86400_000}, {"M", 30 * 86400_000}, {"w", 7 * 86400_000}, {"d", 86400_000},
	{"h", 3600_000}, {"m", 60_000}, {"s", 1000}, {"ms", 1}}

// parseTime reads an nginx time: a number of seconds, or numbers with
// units from the largest down ("1h30m", "500ms"). sec leaves out ms, as
// nginx does for directives counted in seconds. It returns milliseconds.
func parseTime(s string, sec bool) (int64, bool) {
	if s == "" || len(s) > 32 {
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n * 1000, n >= 0 && n < 1<<31
	}
	var total int64
	next := 0 // index in timeUnits the next unit may start from
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 9 {
			return 0, false
		}
		n, _ := strconv.ParseInt(s[:i], 10, 64)
		s = s[i:]
		found := false
		for j := next; j < len(timeUnits); j++ {
			u := timeUnits[j]
			// "m" must not eat the "m" of "ms".
			if strings.HasPrefix(s, u.unit) && !(u.unit == "m" && strings.HasPrefix(s, "ms")) {
				if sec && u.unit == "ms" {
					return 0, false
				}
				total += n * u.ms
				s = s[len(u.unit):]
				next = j + 1
				found = true
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	return total, true
}

// timeout accepts an nginx time up to maxTimeout.
func timeout(_ *snippetCheck, a *string) error {
	ms, ok := parseTime(*a, false)
	if !ok || ms > maxTimeout*1000 {
		return fmt.Errorf("%q is not an nginx time (30s, 1m30s, 500ms) up to %s", excerpt.Of(*a), maxTimeoutText)
	}
	return nil
}

// keepaliveTimeout is keepalive_timeout's time and optional header time.
func keepaliveTimeout(c *snippetCheck, d *directive) error {
	if err := timeout(c, &d.Args[0]); err != nil {
		return err
	}
	if len(d.Args) == 2 {
		if ms, ok := parseTime(d.Args[1], true); !ok || ms > maxTimeout*1000 {
			return fmt.Errorf("%q is not an nginx time in seconds", excerpt.Of(d.Args[1]))
		}
	}
	return nil
}

// expires is [modified] time|epoch|max|off, a time possibly negative or
// "@" a time of day.
func expires(_ *snippetCheck, d *directive) error {
	v := d.Args[0]
	if len(d.Args) == 2 {
		if v != "modified" {
			return errors.New(`takes "modified" before the time when it has two arguments`)
		}
		v = d.Args[1]
	}
	switch {
	case v == "epoch" || v == "max" || v == "off":
		return nil
	case strings.HasPrefix(v, "@"):
		if ms, ok := parseTime(v[1:], true); ok && ms < 24*3600_000 {
			return nil
		}
		return fmt.Errorf("%q is not @ a time of day below 24h", excerpt.Of(v))
	}
	if ms, ok := parseTime(strings.TrimPrefix(v, "-"), true); ok && ms <= maxExpires*1000 {
		return nil
	}
	return fmt.Errorf("%q is not a time (1h, -1, 30d), @time, epoch, max or off", excerpt.Of(v))
}

var (
	// rateValue is an nginx size (k, m), for limits that may be large.
	rateValue = regexp.MustCompile(`^[0-9]{1,9}[kKmM]?$`)
	// headerNameValue allowlists header names: letters, digits, - and _.
	headerNameValue = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)
	// mimeValue allowlists MIME types.
	mimeValue = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#&^_.+-]{0,63}/[A-Za-z0-9*][A-Za-z0-9!#&^_.+*-]{0,127}$`)
	// charsetValue allowlists charset names.
	charsetValue = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)
	// methodValue allowlists an HTTP method.
	methodValue = regexp.MustCompile(`^[A-Z]{1,20}$`)
	// cookieValue allowlists a cookie name: an RFC 6265 token without a
	// leading ~ (which would make it a regex for nginx) and without $.
	cookieValue = regexp.MustCompile("^[A-Za-z0-9!#%&'*+.^_`|-][A-Za-z0-9!#%&'*+.^_`|~-]{0,127}$")
	// locationPathValue allowlists exact and prefix location paths as Ingress paths are.
	locationPathValue = regexp.MustCompile(`^/[A-Za-z0-9\-._~/%!&()*+,=:@]*$`)
	// namedLocationValue allowlists @name locations.
	namedLocationValue = regexp.MustCompile(`^@[A-Za-z0-9_-]{1,64}$`)
	// setName allowlists the variables a snippet sets.
	setName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,63}$`)
	// statusValue is a three-digit status code.
	statusValue = regexp.MustCompile(`^[1-5][0-9][0-9]$`)
)

// sizeBytes reads an nginx size (k, m, g) in bytes.
func sizeBytes(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	mult := int64(1)
	switch s[len(s)-1] {
	case 'k', 'K':
		mult, s = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		mult, s = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		mult, s = 1<<30, s[:len(s)-1]
	}
	if s == "" || len(s) > 10 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err == nil
}

// rateSize is a size with k or m, as limit_rate and gzip_min_length take.
func rateSize(_ *snippetCheck, a *string) error {
	if !rateValue.MatchString(*a) {
		return fmt.Errorf("%q is not an nginx size (500k, 1m)", excerpt.Of(*a))
	}
	return nil
}

// offset is a size with k, m or g, as client_max_body_size takes.
func offset(_ *snippetCheck, a *string) error {
	if !sizeValue.MatchString(*a) {
		return fmt.Errorf("%q is not an nginx size (8k, 20m, 1g, 0)", excerpt.Of(*a))
	}
	return nil
}

// bufferSize is a buffer size, as the buffer annotations allow: nginx
// allocates it per request, so it stays below 10m.
func bufferSize(_ *snippetCheck, a *string) error {
	if !bufferValue.MatchString(*a) {
		return fmt.Errorf("%q is not a buffer size from 1k to 9m", excerpt.Of(*a))
	}
	return nil
}

// maxBuffers bounds the memory proxy_buffers gives each request, as the
// proxy-buffer-size annotation does (4 buffers of at most 9m).
const maxBuffers = 36 << 20

// proxyBuffers is proxy_buffers' number and size.
func proxyBuffers(c *snippetCheck, d *directive) error {
	if err := intRange(2, 64)(c, &d.Args[0]); err != nil {
		return err
	}
	if err := bufferSize(c, &d.Args[1]); err != nil {
		return err
	}
	n, _ := strconv.Atoi(d.Args[0])
	s, _ := sizeBytes(d.Args[1])
	if int64(n)*s > maxBuffers {
		return errors.New("gives each request more than 36m of buffers")
	}
	return nil
}

// minTempFileSize is the least non-zero proxy_max_temp_file_size: nginx
// refuses one below the largest buffer, and buffers stay below 10m.
const minTempFileSize = 10 << 20

func maxTempFileSize(_ *snippetCheck, a *string) error {
	if *a == "0" {
		return nil
	}
	if n, ok := sizeBytes(*a); ok && sizeValue.MatchString(*a) && n >= minTempFileSize {
		return nil
	}
	return fmt.Errorf("%q is not 0 or a size of at least 10m", excerpt.Of(*a))
}

// headerBuffers is large_client_header_buffers' number and size.
func headerBuffers(c *snippetCheck, d *directive) error {
	if err := intRange(1, 16)(c, &d.Args[0]); err != nil {
		return err
	}
	if n, ok := sizeBytes(d.Args[1]); !ok || n < 1<<10 || n > 64<<10 || strings.ContainsAny(d.Args[1], "gGmM") {
		return fmt.Errorf("%q is not a size from 1k to 64k", excerpt.Of(d.Args[1]))
	}
	return nil
}

func headerNameArg(_ *snippetCheck, a *string) error {
	if !headerNameValue.MatchString(*a) {
		return fmt.Errorf("%q is not a header name (letters, digits, - and _)", excerpt.Of(*a))
	}
	return nil
}

func mimeType(_ *snippetCheck, a *string) error {
	if !mimeValue.MatchString(*a) {
		return fmt.Errorf("%q is not a MIME type", excerpt.Of(*a))
	}
	return nil
}

func mimeTypeOrStar(c *snippetCheck, a *string) error {
	if *a == "*" {
		return nil
	}
	return mimeType(c, a)
}

func charsetName(_ *snippetCheck, a *string) error {
	if !charsetValue.MatchString(*a) {
		return fmt.Errorf("%q is not a charset name", excerpt.Of(*a))
	}
	return nil
}

func methodToken(_ *snippetCheck, a *string) error {
	if !methodValue.MatchString(*a) {
		return fmt.Errorf("%q is not an HTTP method in capitals", excerpt.Of(*a))
	}
	return nil
}

// addHeader is add_header's and add_trailer's name, value and "always".
func addHeader(c *snippetCheck, d *directive) error {
	if err := headerNameArg(c, &d.Args[0]); err != nil {
		return err
	}
	if err := headerValue(c, &d.Args[1]); err != nil {
		return err
	}
	if len(d.Args) == 3 && d.Args[2] != "always" {
		return fmt.Errorf("third argument %q is not always", excerpt.Of(d.Args[2]))
	}
	return nil
}

// setHeader is proxy_set_header's and grpc_set_header's name and value.
// Portico's own request headers are refused for proxy_set_header: the
// template sets them in every proxied location, and nginx would send both.
// The trace context headers are refused for grpc_set_header too.
func setHeader(name string) func(*snippetCheck, *directive) error {
	return func(c *snippetCheck, d *directive) error {
		if err := headerNameArg(c, &d.Args[0]); err != nil {
			return err
		}
		if name == "proxy_set_header" && slices.Contains(porticoHeaders, strings.ToLower(d.Args[0])) {
			return fmt.Errorf("%s is set by Portico for every backend (upstream-vhost and x-forwarded-prefix change Host and X-Forwarded-Prefix)", d.Args[0])
		}
		if name == "grpc_set_header" && slices.Contains(traceHeaders, strings.ToLower(d.Args[0])) {
			return fmt.Errorf("%s is set by Portico for every gRPC backend too (generate-traceparent, trust-incoming-traceparent)", d.Args[0])
		}
		return headerValue(c, &d.Args[1])
	}
}

// accessAddress is allow's and deny's argument, printed canonical.
func accessAddress(c *snippetCheck, a *string) error {
	if *a == "all" {
		return nil
	}
	return realIPFrom(c, a)
}

// realIPFrom is an IP address, a CIDR (printed with its host bits
// cleared, as nginx reads it) or unix:. A host name would make nginx
// resolve it at every reload.
func realIPFrom(_ *snippetCheck, a *string) error {
	if *a == "unix:" {
		return nil
	}
	if ip, err := netip.ParseAddr(*a); err == nil && ip.Zone() == "" {
		*a = ip.String()
		return nil
	}
	if p, err := netip.ParsePrefix(*a); err == nil {
		*a = p.Masked().String()
		return nil
	}
	return fmt.Errorf("%q is not an IP address, a CIDR or unix:", excerpt.Of(*a))
}

// nextUpstream is proxy_next_upstream's conditions; "off" stands alone.
func nextUpstream(c *snippetCheck, d *directive) error {
	for i := range d.Args {
		if err := oneOf(nextUpstreamConditions...)(c, &d.Args[i]); err != nil {
			return err
		}
		if d.Args[i] == "off" && len(d.Args) > 1 {
			return errors.New("off stands alone")
		}
	}
	return nil
}

// offOrPair is off, or a literal text and its replacement, for
// proxy_redirect and proxy_cookie_domain/path. A leading ~ (a regex, which
// could set variables from named groups) and proxy_redirect default (which
// nginx refuses after a proxy_pass with variables) are refused.
func offOrPair(name string) func(*snippetCheck, *directive) error {
	return func(c *snippetCheck, d *directive) error {
		if len(d.Args) == 1 {
			if d.Args[0] != "off" {
				return errors.New("takes off, or two arguments")
			}
			return nil
		}
		from := d.Args[0]
		switch {
		case from == "" || strings.HasPrefix(from, "~"):
			return errors.New("first argument must be literal text: ~ regexes are not allowed")
		case name == "proxy_redirect" && (from == "default" || from == "off"):
			return fmt.Errorf("%s %s is not allowed with two arguments", name, from)
		}
		for i := range d.Args {
			if err := value(c, &d.Args[i]); err != nil {
				return err
			}
		}
		return nil
	}
}

// cookieFlags is proxy_cookie_flags off, or a cookie name and flags.
func cookieFlags(c *snippetCheck, d *directive) error {
	if len(d.Args) == 1 {
		if d.Args[0] != "off" {
			return errors.New("takes off, or a cookie name and flags")
		}
		return nil
	}
	if !cookieValue.MatchString(d.Args[0]) {
		return fmt.Errorf("%q is not a cookie name (no ~ regex)", excerpt.Of(d.Args[0]))
	}
	for i := 1; i < len(d.Args); i++ {
		if err := oneOf(cookieFlagValues...)(c, &d.Args[i]); err != nil {
			return err
		}
	}
	return nil
}

// snippetRegex checks a regex with pkg/pcre and replaces it by the
// printed pattern with a match limit: nginx never runs the user's text.
func snippetRegex(a *string, caseless bool) error {
	p, err := pcre.Parse(*a, pcre.Options{CaseInsensitive: caseless})
	if err != nil {
		return err
	}
	*a = pcre.WithMatchLimit(p.PCRE(), snippetRegexSteps)
	return nil
}

// gzipDisable is msie6 or a regex nginx runs without case on User-Agent.
func gzipDisable(_ *snippetCheck, a *string) error {
	if *a == "msie6" {
		return nil
	}
	return snippetRegex(a, true)
}

// subFilter is sub_filter's text and replacement.
func subFilter(c *snippetCheck, d *directive) error {
	if d.Args[0] == "" {
		return errors.New("has an empty text to replace")
	}
	for i := range d.Args {
		if err := value(c, &d.Args[i]); err != nil {
			return err
		}
	}
	return nil
}

// isRedirectURL reports what nginx's return and rewrite treat as a redirect.
func isRedirectURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "$scheme")
}

// returnArgs is return code [text|URL], or return URL.
func returnArgs(c *snippetCheck, d *directive) error {
	if len(d.Args) == 1 && !statusValue.MatchString(d.Args[0]) {
		if !isRedirectURL(d.Args[0]) {
			return fmt.Errorf("%q is neither a status code 100-599 nor an http(s):// URL", excerpt.Of(d.Args[0]))
		}
		// The URL becomes the Location header.
		return headerValue(c, &d.Args[0])
	}
	if !statusValue.MatchString(d.Args[0]) {
		return fmt.Errorf("%q is not a status code 100-599", excerpt.Of(d.Args[0]))
	}
	if len(d.Args) == 2 {
		switch d.Args[0] {
		case "301", "302", "303", "307", "308":
			return headerValue(c, &d.Args[1]) // the Location header
		}
		return value(c, &d.Args[1])
	}
	return nil
}

// rewriteArgs is rewrite regex replacement [flag]. rewrite ... last
// starts location matching again in the same server, whose locations
// belong to the same host and namespace.
func rewriteArgs(c *snippetCheck, d *directive) error {
	if err := snippetRegex(&d.Args[0], false); err != nil {
		return err
	}
	if d.Args[1] == "" {
		return errors.New("has an empty replacement")
	}
	check := value
	if isRedirectURL(d.Args[1]) || len(d.Args) == 3 && (d.Args[2] == "redirect" || d.Args[2] == "permanent") {
		check = headerValue // the replacement becomes the Location header
	}
	if err := check(c, &d.Args[1]); err != nil {
		return err
	}
	if len(d.Args) == 3 {
		return oneOf("last", "break", "redirect", "permanent")(c, &d.Args[2])
	}
	return nil
}

// ifCondition checks an if condition the way nginx reads it
// (ngx_http_rewrite_if_condition: "(" alone or leading the first token,
// ")" alone or ending the last) and prints it canonical: "(", the
// variable, the operator and the value or regex, ")".
func ifCondition(c *snippetCheck, d *directive) error {
	args := slices.Clone(d.Args)
	switch {
	case args[0] == "(":
		args = args[1:]
	case strings.HasPrefix(args[0], "("):
		args[0] = args[0][1:]
	default:
		return errors.New(`condition must start with "("`)
	}
	if len(args) == 0 {
		return errors.New("condition is empty")
	}
	last := len(args) - 1
	switch {
	case args[last] == ")":
		args = args[:last]
	case strings.HasSuffix(args[last], ")"):
		args[last] = args[last][:len(args[last])-1]
	default:
		return errors.New(`condition must end with ")"`)
	}
	if len(args) == 0 {
		return errors.New("condition is empty")
	}
	if strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[0], "!-") {
		return errors.New("file tests (-f, -d, -e, -x) are not allowed: they probe nginx's file system")
	}
	if len(args) != 1 && len(args) != 3 {
		return errors.New("condition is not ($variable) or ($variable operator value)")
	}
	v, ok := strings.CutPrefix(args[0], "$")
	if !ok || v == "" || v[0] >= '0' && v[0] <= '9' || strings.IndexFunc(v, func(r rune) bool { return r > 0x7f || !isVarChar(byte(r)) }) >= 0 {
		return fmt.Errorf("condition must start with a $variable, not %q", excerpt.Of(args[0]))
	}
	if err := c.read(v); err != nil {
		return err
	}
	if len(args) == 1 {
		d.Args = []string{"(", args[0], ")"}
		return nil
	}
	switch args[1] {
	case "=", "!=":
		if err := value(c, &args[2]); err != nil {
			return err
		}
	case "~", "!~", "~*", "!~*":
		if err := snippetRegex(&args[2], strings.HasSuffix(args[1], "*")); err != nil {
			return err
		}
	default:
		return fmt.Errorf("operator %q is not =, !=, ~, ~*, !~ or !~*", excerpt.Of(args[1]))
	}
	d.Args = []string{"(", args[0], args[1], args[2], ")"}
	return nil
}

// setVariable is set $name value. The name must be new: not nginx's (set
// would fail nginx -t, or for a family like $http_x turn that request
// header into a plain variable for every host), not the template's and not
// Portico's ($portico_route picks the backend: setting it would send the
// tenant's requests to another tenant's route).
func setVariable(c *snippetCheck, d *directive) error {
	name, ok := strings.CutPrefix(d.Args[0], "$")
	if !ok || !setName.MatchString(name) {
		return fmt.Errorf("%q is not $name with lower-case letters, digits and _", excerpt.Of(d.Args[0]))
	}
	if strings.HasPrefix(name, "portico") {
		return fmt.Errorf("$%s starts with portico: Portico's variables pick routes and backends, a snippet may not set them", name)
	}
	if containsString(builtinVariables, name) || containsString(templateVariables, name) ||
		name == "document_root" || name == "realpath_root" || name == "request_filename" || name == "request_body_file" {
		return fmt.Errorf("$%s is an nginx or Portico variable; a snippet may only set variables of its own", name)
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("$%s starts with %s, which nginx or Portico uses; choose another name", name, p)
		}
	}
	return value(c, &d.Args[1])
}

// errorPage is error_page codes [=[code]] target. A named target must
// not be Portico's (@portico_err_...).
func errorPage(c *snippetCheck, d *directive) error {
	n := len(d.Args)
	target := d.Args[n-1]
	codes := d.Args[:n-1]
	if last := codes[len(codes)-1]; strings.HasPrefix(last, "=") {
		if last != "=" && !statusValue.MatchString(last[1:]) {
			return fmt.Errorf("%q is not = or =code", excerpt.Of(last))
		}
		codes = codes[:len(codes)-1]
	}
	if len(codes) == 0 {
		return errors.New("lists no status code")
	}
	for _, code := range codes {
		n, err := strconv.Atoi(code)
		if err != nil || n < 300 || n > 599 || n == 499 || strconv.Itoa(n) != code {
			return fmt.Errorf("%q is not a status code from 300 to 599 (499 excepted)", excerpt.Of(code))
		}
	}
	switch {
	case strings.HasPrefix(target, "@"):
		if !namedLocationValue.MatchString(target) {
			return fmt.Errorf("%q is not @name", excerpt.Of(target))
		}
		if strings.HasPrefix(strings.ToLower(target), "@portico") {
			return fmt.Errorf("%s is Portico's own location", target)
		}
		return nil
	case isRedirectURL(target):
		return headerValue(c, &d.Args[n-1]) // the Location header
	case strings.HasPrefix(target, "/"):
		return value(c, &d.Args[n-1])
	}
	return fmt.Errorf("target %q is not a /URI, @name or http(s):// URL", excerpt.Of(target))
}

// locationArgs is a server-snippet location: exact and prefix paths as
// Ingress paths allow, regexes checked and printed, @names. Paths under
// /_portico and names under @portico are Portico's.
func locationArgs(_ *snippetCheck, d *directive) error {
	mod, path := "", d.Args[0]
	if len(d.Args) == 2 {
		mod, path = d.Args[0], d.Args[1]
	}
	switch mod {
	case "~", "~*":
		if err := snippetRegex(&path, mod == "~*"); err != nil {
			return err
		}
		d.Args = []string{mod, path}
		return nil
	case "", "=", "^~":
	default:
		return fmt.Errorf("modifier %q is not =, ^~, ~ or ~*", excerpt.Of(mod))
	}
	if mod == "" && strings.HasPrefix(path, "@") {
		if !namedLocationValue.MatchString(path) {
			return fmt.Errorf("%q is not @name", excerpt.Of(path))
		}
		if strings.HasPrefix(strings.ToLower(path), "@portico") {
			return fmt.Errorf("%s is Portico's own location", path)
		}
		return nil
	}
	if len(path) > 2048 || !locationPathValue.MatchString(path) {
		return fmt.Errorf("%q is not a path: it must start with / and hold only letters, digits and - . _ ~ / %% ! & ( ) * + , = : @", excerpt.Of(path))
	}
	if strings.HasPrefix(path, "/_portico") {
		return fmt.Errorf("%s is under /_portico, Portico's own locations", path)
	}
	return nil
}

// SnippetLocation is a location a server-snippet defines that nginx
// allows only once per server: an exact, prefix or named location.
type SnippetLocation struct {
	// Modifier is "=" for an exact location, "" for a prefix one (with or
	// without ^~: nginx counts both as the same prefix) and "@" for a named one.
	Modifier string
	// Path is the location's path, or its name with the "@".
	Path string
}

// ServerSnippetLocations lists the exact, prefix and named locations of a
// checked server-snippet, in order; regex locations may repeat and are
// left out.
func ServerSnippetLocations(dirs []*ngxconf.Directive) []SnippetLocation {
	var out []SnippetLocation
	for _, d := range dirs {
		if d.Name != "location" {
			continue
		}
		switch {
		case len(d.Args) == 1 && strings.HasPrefix(d.Args[0], "@"):
			out = append(out, SnippetLocation{Modifier: "@", Path: d.Args[0]})
		case len(d.Args) == 1:
			out = append(out, SnippetLocation{Path: d.Args[0]})
		case d.Args[0] == "=":
			out = append(out, SnippetLocation{Modifier: "=", Path: d.Args[1]})
		case d.Args[0] == "^~":
			out = append(out, SnippetLocation{Path: d.Args[1]})
		}
	}
	return out
}

// checkLocationClashes refuses a configuration-snippet that sets a
// directive the Ingress's other annotations already print into the same
// locations: nginx -t refuses the duplicate, and a refused config stops
// every later reload. It is called once the whole Set is parsed.
func (s *Set) checkLocationClashes() error {
	if len(s.Snippets.Location) == 0 {
		return nil
	}
	printed := s.Proxy.printed()
	if len(s.DefaultBackend.CustomHTTPErrors) > 0 {
		printed = append(printed, [2]string{"proxy_intercept_errors", "custom-http-errors"})
	}
	if s.ProxySSL != (ProxySSL{}) {
		printed = append(printed, [2]string{"proxy_ssl_server_name", "proxy-ssl-*"}, [2]string{"proxy_ssl_name", "proxy-ssl-*"})
	}
	for _, d := range s.Snippets.Location {
		for _, p := range printed {
			if d.Name == p[0] {
				return fmt.Errorf("line %d: sets %s, which annotation %s already sets in the same locations; set it in one place", d.Line, d.Name, p[1])
			}
		}
	}
	return nil
}

func snippetFields() []Field {
	// Both snippets share what they allow and where; only the doc differs.
	snippet := func(key, doc string, apply func(string, *Set) error) Field {
		return Field{Key: key, Risk: RiskCritical, Default: "(off)",
			Allowed: "directives and arguments from the allowlist in " + snippetDocs + "; only in namespaces the operator allows (--allow-snippet-annotations, --snippet-namespaces)",
			Doc:     doc + "; see [snippets](snippets.md) for the directives allowed and why others are not", apply: apply}
	}
	return inGroup("snippets", []Field{
		snippet("configuration-snippet", "directives added to every location of the Ingress", func(v string, s *Set) error {
			dirs, err := parseSnippet(v, inLocation)
			if err != nil {
				return err
			}
			s.Snippets.Location = dirs
			return nil
		}),
		snippet("server-snippet", "directives added to the server block of the Ingress's hosts (one Ingress per host)", func(v string, s *Set) error {
			dirs, err := parseSnippet(v, inServer)
			if err != nil {
				return err
			}
			s.Snippets.Server = dirs
			return nil
		}),
	})
}
