package render

import (
	"bufio"
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Blame finds the objects whose lines nginx -t refused: output is nginx's
// message, conf the configuration it tested (the copy for nginx -t has the
// same lines). nginx names a file and line ("in /etc/portico/nginx.conf:412"),
// or for a variable it does not know, only the variable ("unknown "foo"
// variable"): then every line that uses it is blamed; for a file it could
// not open (open() "/x/access.log" failed), every line naming the file. A line belongs to
// the Ingress whose source comment opens the block it is in (a location's
// `# "namespace/name"`) or whose server-snippet markers surround it. It
// returns the sources ("namespace/name"), sorted, GlobalSource for lines
// directly in the http context (the operator's settings), and none for
// lines of other blocks no Ingress wrote (the default server's).
func Blame(conf []byte, output string) []string {
	var lines []int
	for _, m := range fileLine.FindAllStringSubmatch(output, -1) {
		if n, err := strconv.Atoi(m[1]); err == nil {
			lines = append(lines, n)
		}
	}
	var vars []string
	for _, m := range unknownVariable.FindAllStringSubmatch(output, -1) {
		vars = append(vars, m[1])
	}
	var paths []string
	for _, m := range openFailed.FindAllStringSubmatch(output, -1) {
		paths = append(paths, `"`+m[1]+`"`)
	}
	if len(lines) == 0 && len(vars) == 0 && len(paths) == 0 {
		return nil
	}
	var out []string
	blame := func(source string) {
		if source != "" && !slices.Contains(out, source) {
			out = append(out, source)
		}
	}
	sources := lineSources(conf)
	for _, n := range lines {
		if n >= 1 && n <= len(sources) {
			blame(sources[n-1])
		}
	}
	if len(vars) > 0 || len(paths) > 0 {
		sc := bufio.NewScanner(bytes.NewReader(conf))
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for i := 0; sc.Scan(); i++ {
			line := sc.Text()
			if usesVariable(line, vars) || slices.ContainsFunc(paths, func(p string) bool { return strings.Contains(line, p) }) {
				blame(sources[i])
			}
		}
	}
	slices.Sort(out)
	return out
}

// GlobalSource is what Blame returns for lines directly in the main or
// http context: the operator's settings, from flags and the options
// ConfigMap (the log format, timeouts, ciphers).
const GlobalSource = "@http"

// fileLine is where nginx says a problem is: " in FILE:LINE" at the end of
// its message.
var fileLine = regexp.MustCompile(` in \S+:([0-9]+)\b`)

// unknownVariable is nginx's message for a variable it does not know,
// which names no line.
var unknownVariable = regexp.MustCompile(`unknown "([A-Za-z0-9_]+)" variable`)

// openFailed is nginx's message for a file it could not open when it
// starts a configuration (a log file whose directory does not exist),
// which names no line: the lines that name the file, quoted as the
// template prints paths, are blamed.
var openFailed = regexp.MustCompile(`open\(\) "([^"\\]+)" failed`)

// Markers the template writes around what an Ingress contributes: a
// location's source comment, and server lines between "# from" (or
// "# server-snippet") "namespace/name" and their end comment.
var (
	sourceComment = regexp.MustCompile(`^\s*# "([^"\\]+)"\s*$`)
	markedStart   = regexp.MustCompile(`^\s*# (?:from|server-snippet) "([^"\\]+)"\s*$`)
	markedEnd     = regexp.MustCompile(`^\s*# (?:from|server-snippet) end\s*$`)
)

// lineSources returns, for each line of conf, the source it belongs to
// ("" for none). A block starts with its parent's source at that point; a
// location's source comment sets its own; server-snippet markers set the
// source of the lines between them.
func lineSources(conf []byte) []string {
	var out []string
	stack := []string{""} // the current source of each open block
	sc := bufio.NewScanner(bytes.NewReader(conf))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		top := len(stack) - 1
		switch {
		case markedEnd.MatchString(line):
			stack[top] = ""
		case markedStart.MatchString(line):
			stack[top] = markedStart.FindStringSubmatch(line)[1]
		case sourceComment.MatchString(line):
			stack[top] = sourceComment.FindStringSubmatch(line)[1]
		}
		source := stack[top]
		if source == "" && len(stack) <= 2 {
			source = GlobalSource
		}
		out = append(out, source)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		// The template puts at most one brace that opens or closes a block
		// on a line, at its end (snippets are printed from their tree, one
		// directive per line); quoted braces do not end a line.
		switch {
		case strings.HasSuffix(trimmed, "{"):
			stack = append(stack, stack[top])
		case trimmed == "}" && top > 0:
			stack = stack[:top]
		}
	}
	return out
}

// usesVariable reports whether a line names one of vars as $name or ${name}.
func usesVariable(line string, vars []string) bool {
	for _, v := range vars {
		for _, form := range []string{"${" + v + "}", "$" + v} {
			i := strings.Index(line, form)
			for i >= 0 {
				end := i + len(form)
				if strings.HasSuffix(form, "}") || end == len(line) || !isVarChar(line[end]) {
					return true
				}
				next := strings.Index(line[end:], form)
				if next < 0 {
					break
				}
				i = end + next
			}
		}
	}
	return false
}

func isVarChar(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
