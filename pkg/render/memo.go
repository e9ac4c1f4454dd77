package render

import (
	"sync"
	"unsafe"

	"github.com/portico-ingress/portico/pkg/model"
)

// keyMemo remembers the keys computed for a server by the identity of its
// parts, so that the servers of a config that did not change (the model
// reuses them from build to build, model/units.go) are not walked by
// reflection again: at 10,000 servers that walk is most of a render after
// one change. Configs are immutable once built, and an entry holds its
// server, so the memory a part's address names cannot be reused for other
// content while the entry lives.
type keyMemo struct {
	mu      sync.Mutex
	renders uint64
	entries map[serverID]*memoEntry
}

type memoEntry struct {
	server    model.Server // keeps the parts serverID names alive
	shape     [32]byte
	ident     [32]byte
	shareable bool
	phases    bool
	used      uint64
}

// serverID names a server by its fields: strings by value, slices and
// pointers by address (and length). TestServerIDCoversServer fails when
// model.Server gains a field this does not cover.
type serverID struct {
	name, serverName string
	clientCert       *model.ServerClientCert
	tls              *model.ServerTLS
	snippet          unsafe.Pointer
	authEndpoints    unsafe.Pointer
	errorLocations   unsafe.Pointer
	aliases          unsafe.Pointer
	locations        unsafe.Pointer
	lens             [5]int
}

// serverIDFields is how many fields of model.Server serverID covers.
const serverIDFields = 9

func idOf(s *model.Server) serverID {
	return serverID{
		name: s.Name, serverName: s.ServerName, clientCert: s.ClientCert, tls: s.TLS,
		snippet:        unsafe.Pointer(unsafe.SliceData(s.Snippet)),
		authEndpoints:  unsafe.Pointer(unsafe.SliceData(s.AuthEndpoints)),
		errorLocations: unsafe.Pointer(unsafe.SliceData(s.ErrorLocations)),
		aliases:        unsafe.Pointer(unsafe.SliceData(s.Aliases)),
		locations:      unsafe.Pointer(unsafe.SliceData(s.Locations)),
		lens:           [5]int{len(s.Snippet), len(s.AuthEndpoints), len(s.ErrorLocations), len(s.Aliases), len(s.Locations)},
	}
}

func newKeyMemo() *keyMemo { return &keyMemo{entries: map[serverID]*memoEntry{}} }

// lookup returns the entries for ids (nil where there is none) and starts a render.
func (m *keyMemo) lookup(ids []serverID) []*memoEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.renders++
	out := make([]*memoEntry, len(ids))
	for i, id := range ids {
		if e := m.entries[id]; e != nil {
			e.used = m.renders
			out[i] = e
		}
	}
	return out
}

// store adds the new entries and drops those the render did not use.
func (m *keyMemo) store(ids []serverID, entries []*memoEntry, fresh []int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, i := range fresh {
		entries[i].used = m.renders
		m.entries[ids[i]] = entries[i]
	}
	for id, e := range m.entries {
		if e.used < m.renders {
			delete(m.entries, id)
		}
	}
}
