// Package gendoc writes generated text into a hand-written markdown page,
// between two marker lines, so the prose around a generated table (make
// bench, make reliability) survives every regeneration.
package gendoc

import (
	"bytes"
	"fmt"
	"os"
)

// Replace replaces the text between the lines begin and end of the file at
// path with generated; the markers themselves stay.
func Replace(path, begin, end, generated string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("reading the page to update: %w", err)
	}
	i := bytes.Index(data, []byte(begin))
	j := bytes.Index(data, []byte(end))
	if i < 0 || j < i {
		return fmt.Errorf("%s: markers %q and %q not found in order", path, begin, end)
	}
	var out bytes.Buffer
	out.Write(data[:i+len(begin)])
	out.WriteString("\n")
	out.WriteString(generated)
	out.Write(data[j:])
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
