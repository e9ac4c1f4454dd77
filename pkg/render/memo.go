package render

import (
	"unsafe"

	"github.com/portico-ingress/portico/pkg/model"
)

// memoEntry is what Renderer.memo remembers of a server, by the identity of
// its parts, so that the servers of a config that did not change (the model
// reuses them from build to build, model/units.go) are not walked by
// reflection again: at 10,000 servers that walk is most of a render after
// one change. Configs are immutable once built, and the key itself keeps the
// parts it names alive (it points at them), so the memory a part's address
// names cannot be reused for other content while the entry lives.
type memoEntry struct {
	shape     [32]byte
	ident     [32]byte
	shareable bool
	phases    bool
}

// serverID names a server by its fields: strings by value, slices and
// pointers by address (and length). TestServerIDCoversServer fails when
// model.Server gains a field this does not cover.
type serverID struct {
	name, serverName string
	snippetSource    string
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
const serverIDFields = 10

func idOf(s *model.Server) serverID {
	return serverID{
		name: s.Name, serverName: s.ServerName, snippetSource: s.SnippetSource, clientCert: s.ClientCert, tls: s.TLS,
		snippet:        unsafe.Pointer(unsafe.SliceData(s.Snippet)),
		authEndpoints:  unsafe.Pointer(unsafe.SliceData(s.AuthEndpoints)),
		errorLocations: unsafe.Pointer(unsafe.SliceData(s.ErrorLocations)),
		aliases:        unsafe.Pointer(unsafe.SliceData(s.Aliases)),
		locations:      unsafe.Pointer(unsafe.SliceData(s.Locations)),
		lens:           [5]int{len(s.Snippet), len(s.AuthEndpoints), len(s.ErrorLocations), len(s.Aliases), len(s.Locations)},
	}
}
