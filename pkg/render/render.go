// Package render prints a model.Config as nginx.conf through text/template.
// The template only loops and prints; the one quoting function, q, is the
// boundary every user-derived string crosses.
//
// A sync renders once: Prepare executes the template with placeholders for
// the generation and for the server blocks, prints each server block
// through the template's "server" (or "default-server") definition, and
// hashes the parts. The hash ignores the generation, and Output.Render then
// only copies bytes. Server blocks are cached by a digest of everything they
// are printed from, so a change to one Ingress re-renders one server.
package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/templates"
)

// Renderer holds a parsed template and the cache of server blocks printed
// with it. It is safe for concurrent use.
type Renderer struct {
	tmpl *template.Template
	// server and defaultServer are the templates of one server block; nil
	// when a custom template does not define "server": then the whole
	// template is executed at once.
	server, defaultServer *template.Template
	// share is set when the template defines "route-maps": then hosts whose
	// server blocks would differ only in names and routes share one block
	// (see share.go).
	share bool
	// cache holds the server blocks of the last render by the key of what
	// each was printed from; memo the keys of its servers (memo.go).
	cache lastRender[[32]byte, rendered]
	memo  lastRender[serverID, *memoEntry]
}

// Data is what the template sees.
type Data struct {
	// Config is the model to print.
	Config *model.Config
	// Generation numbers this config; nginx serves it on the internal server.
	Generation uint64
	// ServerBlocks stands for the server blocks (default server first), each
	// printed through the "default-server" or "server" template. A template
	// that defines "server" prints it exactly once, where they belong.
	ServerBlocks string
	// Check asks for the copy nginx -t checks: the template may leave out
	// what the controller checks apart (the Lua module and its directives).
	Check bool
}

// ServerData is what the "server" and "default-server" templates see.
type ServerData struct {
	// Global holds the http-level settings (listen arguments, HTTP2, HSTS).
	Global *model.Global
	// Server is the server block to print. In a block several hosts share,
	// ServerName is the first host, Aliases are the others, and each
	// routing location's Route is the variable of its map in RouteMaps.
	Server *model.Server
	// RouteMaps are the maps from $host to route ID that a shared block's
	// locations read; empty for the block of one host.
	RouteMaps []RouteMap
	// Check asks for the block as nginx -t checks it (see Data.Check): the
	// per-location Lua hooks commented out, line for line.
	Check bool
}

// RouteMap is an nginx map from $host to the route ID of one location of a
// shared server block.
type RouteMap struct {
	// Variable is the map's variable, without the "$".
	Variable string
	// Entries are the block's hosts, in server order, with their route IDs.
	Entries []RouteMapEntry
}

// RouteMapEntry is one host of a RouteMap.
type RouteMapEntry struct {
	// Host is an exact host name (model.Shareable).
	Host string
	// Route is the host's route ID for the location.
	Route string
}

// generationMark is the generation the template is executed with: the
// renderer finds where it is printed and puts the real generation there.
// text/template writes each printed value with one Write call, and every
// user string reaches the output quoted, so a Write of exactly these digits
// is the generation.
const generationMark = "18446744073709551615" // max uint64

// serverBlocksMark is printed in place of the server blocks.
const serverBlocksMark = "\x00portico:server-blocks\x00"

// unsafeSprig lists sprig helpers a template must not have: they read the
// environment, touch the network, or are not deterministic (the same model
// must always render the same bytes).
var unsafeSprig = []string{
	"env", "expandenv", "getHostByName",
	"now", "date", "dateInZone", "date_in_zone", "dateModify", "date_modify", "mustDateModify",
	"must_date_modify", "ago", "duration", "durationRound", "htmlDate", "htmlDateInZone", "unixEpoch",
	"randAlphaNum", "randAlpha", "randAscii", "randNumeric", "randBytes", "randInt", "uuidv4", "shuffle",
	"genPrivateKey", "derivePassword", "buildCustomCert", "genCA", "genCAWithKey", "genSelfSignedCert",
	"genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey", "encryptAES", "decryptAES",
}

// FuncMap returns the functions templates may use: sprig's pure helpers and q.
func FuncMap() template.FuncMap {
	fm := sprig.TxtFuncMap()
	for _, name := range unsafeSprig {
		delete(fm, name)
	}
	fm["q"] = ngxconf.Quote
	return fm
}

// New parses a template; text "" selects the embedded default.
func New(text string) (*Renderer, error) {
	if text == "" {
		text = templates.NginxTemplate
	}
	t, err := template.New("nginx.tmpl").Option("missingkey=error").Funcs(FuncMap()).Parse(text)
	if err != nil {
		return nil, fmt.Errorf("parsing nginx template: %w", err)
	}
	r := &Renderer{tmpl: t}
	if s := t.Lookup("server"); s != nil {
		d := t.Lookup("default-server")
		if d == nil {
			return nil, errors.New(`parsing nginx template: it defines "server" but not "default-server"`)
		}
		r.server, r.defaultServer = s, d
		r.share = t.Lookup("route-maps") != nil
	}
	return r, nil
}

// Render prints cfg with the given generation number.
func (r *Renderer) Render(cfg *model.Config, generation uint64) ([]byte, error) {
	out, err := r.Prepare(cfg)
	if err != nil {
		return nil, err
	}
	return out.Render(generation), nil
}

// Hash returns the hex sha256 identifying cfg's config independently of the
// generation, and the config rendered with generation 0. A sync that needs
// both the hash and the config should call Prepare once instead.
func (r *Renderer) Hash(cfg *model.Config) (string, []byte, error) {
	out, err := r.Prepare(cfg)
	if err != nil {
		return "", nil, err
	}
	return out.Hash(), out.Render(0), nil
}

// Output is a rendered config whose generation is not filled in yet. It is
// immutable and cheap to keep: server blocks are shared with the cache.
type Output struct {
	hash string
	main layout
	// check is the copy for nginx -t (Data.Check), when it differs.
	check *layout
}

// layout is, in order, literal text and the places of the generation and
// of the server blocks.
type layout struct {
	parts []part
	size  int // bytes without the generations
	gens  int
	// servers are the blocks printed where the template placed them.
	servers [][]byte
}

type part struct {
	text    []byte
	gen     bool
	servers bool
}

// Hash is the hex sha256 of the config's parts with the generation left
// out: equal hashes mean equal bytes up to the generation.
func (o *Output) Hash() string { return o.hash }

// Render returns the config with the generation filled in.
func (o *Output) Render(generation uint64) []byte { return o.render(o.main, generation) }

// RenderCheck returns the copy of the config for nginx -t, or nil when the
// template makes no separate one (then nginx -t checks Render's bytes).
func (o *Output) RenderCheck(generation uint64) []byte {
	if o.check == nil {
		return nil
	}
	return o.render(*o.check, generation)
}

func (o *Output) render(l layout, generation uint64) []byte {
	var num [20]byte
	g := strconv.AppendUint(num[:0], generation, 10)
	buf := make([]byte, 0, l.size+l.gens*len(g))
	for _, p := range l.parts {
		switch {
		case p.gen:
			buf = append(buf, g...)
		case p.servers:
			for _, s := range l.servers {
				buf = append(buf, s...)
			}
		default:
			buf = append(buf, p.text...)
		}
	}
	return buf
}

// Prepare renders cfg once, reusing cached server blocks, and hashes it.
// With a template that has server blocks of their own it also renders the
// (small) rest a second time with Data.Check, for nginx -t.
func (r *Renderer) Prepare(cfg *model.Config) (*Output, error) {
	var servers, checks [][]byte
	var sums [][32]byte
	if r.server != nil {
		var err error
		servers, sums, checks, err = r.renderServers(cfg)
		if err != nil {
			return nil, err
		}
	}
	out := &Output{}
	h := sha256.New()
	main, text, err := r.layout(cfg, servers, sums, false, h)
	if err != nil {
		return nil, err
	}
	out.main = main
	out.hash = hex.EncodeToString(h.Sum(nil))
	if r.server != nil {
		checkServers := servers
		if checks != nil {
			checkServers = checks
		}
		check, checkText, err := r.layout(cfg, checkServers, sums, true, nil)
		if err != nil {
			return nil, err
		}
		if checks != nil || !bytes.Equal(text, checkText) {
			out.check = &check
		}
	}
	return out, nil
}

// layout executes the top-level template and splits its output at the
// placeholders; h, when set, hashes the parts (the servers by their sums).
// It returns the executed text too, for comparing two variants.
func (r *Renderer) layout(cfg *model.Config, servers [][]byte, sums [][32]byte, check bool, h hash.Hash) (layout, []byte, error) {
	l := layout{servers: servers}
	marker := ""
	if r.server != nil {
		marker = serverBlocksMark
	}
	w := &markWriter{}
	if r.server == nil {
		// A first guess at the size of nginx.conf, so that the buffer does
		// not grow by doubling from nothing: the http block's settings take
		// a few KiB, each server block at least half a KiB.
		const settingsBytes, serverBytes = 4096, 512
		w.buf.Grow(settingsBytes + serverBytes*len(cfg.Servers))
	}
	if err := r.tmpl.Execute(w, Data{Config: cfg, Generation: genValue, ServerBlocks: marker, Check: check}); err != nil {
		return l, nil, fmt.Errorf("rendering nginx.conf: %w", err)
	}
	if h == nil {
		h = discardHash{}
	}
	var lenBuf [binary.MaxVarintLen64 + 1]byte
	start, placed := 0, 0
	text := w.buf.Bytes()
	addText := func(end int) {
		if end > start {
			t := text[start:end]
			l.parts = append(l.parts, part{text: t})
			l.size += len(t)
			b := append(lenBuf[:0], 't')
			h.Write(binary.AppendUvarint(b, uint64(len(t))))
			h.Write(t)
		}
	}
	for _, m := range w.marks {
		addText(m.at)
		start = m.at + len(m.text)
		if m.text == generationMark {
			l.parts = append(l.parts, part{gen: true})
			l.gens++
			h.Write([]byte{'g'})
			continue
		}
		placed++
		l.parts = append(l.parts, part{servers: true})
		h.Write([]byte{'s'})
		for i := range servers {
			l.size += len(servers[i])
			h.Write(sums[i][:])
		}
	}
	addText(len(text))
	if r.server != nil && placed != 1 {
		return l, nil, fmt.Errorf("rendering nginx.conf: the template defines \"server\" and must print .ServerBlocks once, not %d times", placed)
	}
	return l, text, nil
}

// discardHash is a hash.Hash that ignores what it is given.
type discardHash struct{}

func (discardHash) Write(p []byte) (int, error) { return len(p), nil }
func (discardHash) Sum(b []byte) []byte         { return b }
func (discardHash) Reset()                      {}
func (discardHash) Size() int                   { return 0 }
func (discardHash) BlockSize() int              { return 1 }

// genValue is generationMark as a number.
const genValue = ^uint64(0)

// mark is the place of a placeholder in the executed template's output.
type mark struct {
	at   int
	text string
}

// markWriter records where the template printed a placeholder.
type markWriter struct {
	buf   bytes.Buffer
	marks []mark
}

func (w *markWriter) Write(p []byte) (int, error) {
	if len(p) == len(generationMark) && string(p) == generationMark {
		w.marks = append(w.marks, mark{at: w.buf.Len(), text: generationMark})
	} else if len(p) == len(serverBlocksMark) && string(p) == serverBlocksMark {
		w.marks = append(w.marks, mark{at: w.buf.Len(), text: serverBlocksMark})
	}
	return w.buf.Write(p)
}
