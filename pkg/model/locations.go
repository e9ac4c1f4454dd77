package model

// locationSet holds a server's locations while it is built. They are values
// in a slice, so that finishing the server hands the slice out instead of
// allocating every location on its own and copying it out of a map of
// pointers: at 10,000 Ingresses that was a fifth of what a build allocated.
// A location's key is its Modifier and Path.
type locationSet struct {
	list []Location
	// policies[i] is list[i]'s redirect policy, read by finish.
	policies []located
	// index finds a location by key once there are more than indexFrom;
	// most servers have a few, and a scan costs less than a map then.
	index map[locKey]int
}

// indexFrom is the number of locations above which a set keeps an index.
const indexFrom = 16

// keyOf is the key a location is stored under.
func keyOf(l *Location) locKey { return locKey{modifier: l.Modifier, path: l.Path} }

// find returns the index of the location stored under k, or -1.
func (ls *locationSet) find(k locKey) int {
	if ls.index != nil {
		if i, ok := ls.index[k]; ok {
			return i
		}
		return -1
	}
	for i := range ls.list {
		if ls.list[i].Path == k.path && ls.list[i].Modifier == k.modifier {
			return i
		}
	}
	return -1
}

// get returns the location stored under k. The pointer is only good until
// the next put: the slice may move.
func (ls *locationSet) get(k locKey) (*Location, bool) {
	if i := ls.find(k); i >= 0 {
		return &ls.list[i], true
	}
	return nil, false
}

// has says whether a location is stored under k.
func (ls *locationSet) has(k locKey) bool { return ls.find(k) >= 0 }

// put stores l under its key with its redirect policy, replacing what was
// there: a later rule for the same location wins.
func (ls *locationSet) put(l Location, p located) {
	k := keyOf(&l)
	if i := ls.find(k); i >= 0 {
		ls.list[i], ls.policies[i] = l, p
		return
	}
	if ls.list == nil {
		// A Prefix path makes two locations; most hosts have one path.
		ls.list, ls.policies = make([]Location, 0, 2), make([]located, 0, 2)
	}
	ls.list = append(ls.list, l)
	ls.policies = append(ls.policies, p)
	switch n := len(ls.list); {
	case ls.index != nil:
		ls.index[k] = n - 1
	case n > indexFrom:
		ls.index = make(map[locKey]int, 2*n)
		for i := range ls.list {
			ls.index[keyOf(&ls.list[i])] = i
		}
	}
}

// rekey moves the i-th location to key k, which must be free.
func (ls *locationSet) rekey(i int, k locKey) {
	if ls.index != nil {
		delete(ls.index, keyOf(&ls.list[i]))
		ls.index[k] = i
	}
	ls.list[i].Modifier, ls.list[i].Path = k.modifier, k.path
}

// take hands the locations and their policies out and empties the set, so
// that nothing the builder does later can change a finished server.
func (ls *locationSet) take() ([]Location, []located) {
	list, policies := ls.list, ls.policies
	*ls = locationSet{}
	return list, policies
}
