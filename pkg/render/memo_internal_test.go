package render

import (
	"reflect"
	"testing"

	"github.com/portico-ingress/portico/pkg/model"
)

// TestServerIDCoversServer: a field added to model.Server must be added to
// serverID too, or the key memo would return the keys of a server whose
// new field changed.
func TestServerIDCoversServer(t *testing.T) {
	if n := reflect.TypeFor[model.Server]().NumField(); n != serverIDFields {
		t.Fatalf("model.Server has %d fields, serverID covers %d: extend idOf", n, serverIDFields)
	}
}

// TestKeyMemoSeesNewParts: a server whose parts are new objects, even with
// equal content, is a memo miss; the same parts are a hit.
func TestKeyMemoSeesNewParts(t *testing.T) {
	s := model.Server{Name: "a.example", ServerName: "a.example", Locations: []model.Location{{Path: "/"}}}
	var m lastRender[serverID, *memoEntry]
	lookup := func(ids []serverID) []*memoEntry {
		out := make([]*memoEntry, len(ids))
		m.lookup(ids, out)
		return out
	}
	ids := []serverID{idOf(&s)}
	got := lookup(ids)
	if got[0] != nil {
		t.Fatal("empty memo hit")
	}
	m.store(ids, []*memoEntry{{}}, []int{0})
	if lookup(ids)[0] == nil {
		t.Fatal("same parts: want a hit")
	}
	copied := s
	copied.Locations = append([]model.Location(nil), s.Locations...)
	if lookup([]serverID{idOf(&copied)})[0] != nil {
		t.Fatal("new locations: want a miss")
	}
	renamed := s
	renamed.ServerName = "b.example"
	if lookup([]serverID{idOf(&renamed)})[0] != nil {
		t.Fatal("new name: want a miss")
	}
}
