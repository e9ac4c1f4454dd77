package requestmetrics

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// rawSet is a label set as nginx records it: the route stands for the
// Ingress's labels, which the controller adds.
type rawSet struct {
	route, status, method, host, canary string
}

// dump is what nginx's dict holds for the current layout.
type dump struct {
	sets map[rawSet][]float64
	// dropped counts figures a full dict could not take.
	dropped float64
}

// Keys of the dict that are not figures (metrics.lua's TAG_KEY, DROPPED_KEY).
const (
	tagKey     = "#tag"
	droppedKey = "#dropped"
)

// maxLine bounds one line of the dump: a key is a few names, a host and
// a number, far below this.
const maxLine = 4096

// parseDump reads the internal server's dump ("KEY\tVALUE" lines) for
// layout l. Figures of another layout (left by a configuration whose
// buckets differed, until nginx empties them) are skipped; a malformed
// line is an error, since the dump comes from Portico's own code.
func parseDump(r io.Reader, l layout) (dump, error) {
	d := dump{sets: map[rawSet][]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if text == "" {
			continue
		}
		f := strings.Split(text, "\t")
		if strings.HasPrefix(text, "#") {
			if len(f) == 2 && f[0] == droppedKey {
				v, err := strconv.ParseFloat(f[1], 64)
				if err != nil {
					return dump{}, fmt.Errorf("dump line %d: %q: %w", line, text, err)
				}
				d.dropped = v
			}
			continue
		}
		if len(f) != 8 {
			return dump{}, fmt.Errorf("dump line %d: want 8 tab-separated fields, got %d", line, len(f))
		}
		if f[0] != l.tag {
			continue
		}
		idx, err := strconv.Atoi(f[6])
		if err != nil || idx < 1 || idx > l.size {
			return dump{}, fmt.Errorf("dump line %d: index %q outside the layout's 1..%d", line, f[6], l.size)
		}
		v, err := strconv.ParseFloat(f[7], 64)
		if err != nil {
			return dump{}, fmt.Errorf("dump line %d: value %q: %w", line, f[7], err)
		}
		k := rawSet{route: f[1], status: f[2], method: f[3], host: f[4], canary: f[5]}
		rec := d.sets[k]
		if rec == nil {
			rec = make([]float64, l.size+1)
			d.sets[k] = rec
		}
		rec[idx] += v
	}
	if err := sc.Err(); err != nil {
		return dump{}, fmt.Errorf("reading the dump: %w", err)
	}
	return d, nil
}
