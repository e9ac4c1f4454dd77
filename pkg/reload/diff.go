package reload

import "sort"

// Diff compares two maps of server name -> hash of that server's rendered
// block and returns the sorted names added, removed and changed. Comparing
// hashes of rendered output (not model fields) means no field can be missed.
func Diff(prev, next map[string]string) Changes {
	var c Changes
	for name, h := range next {
		old, ok := prev[name]
		switch {
		case !ok:
			c.Added = append(c.Added, name)
		case old != h:
			c.Changed = append(c.Changed, name)
		}
	}
	for name := range prev {
		if _, ok := next[name]; !ok {
			c.Removed = append(c.Removed, name)
		}
	}
	// Map iteration order is random; sorting keeps events and logs deterministic.
	sort.Strings(c.Added)
	sort.Strings(c.Removed)
	sort.Strings(c.Changed)
	return c
}
