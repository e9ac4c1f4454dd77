package manifests

import (
	"strconv"
	"strings"
)

// Severity says how much a Problem costs the user.
type Severity int

const (
	// SeverityError means objects the user wrote are not in use as written.
	// It is the zero value so that a Problem built without thought is not
	// mistaken for something harmless.
	SeverityError Severity = iota
	// SeverityWarning means something was ignored that Portico does not need.
	SeverityWarning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == SeverityWarning {
		return "warning"
	}
	return "error"
}

// Problem is one thing wrong in the manifests directory, located by file and line.
type Problem struct {
	// File is the path of the file (the directory given to New joined with the
	// path below it), or the directory itself when the directory cannot be read.
	File string
	// Line is the 1-based line in File, or 0 when the problem concerns the whole file.
	Line int
	// Severity is SeverityError when objects are lost or ignored, SeverityWarning otherwise.
	Severity Severity
	// Err says what is wrong and what to change.
	Err error
}

// Error formats the problem the way compilers do, "file:line: message", so
// editors and terminals can jump to it.
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(p.Line))
	}
	b.WriteString(": ")
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if p.Err != nil {
		b.WriteString(p.Err.Error())
	} else {
		b.WriteString("unknown problem")
	}
	return b.String()
}

// Unwrap returns Err, so errors.Is and errors.As see the cause.
func (p Problem) Unwrap() error { return p.Err }
