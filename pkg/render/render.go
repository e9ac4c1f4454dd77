// Package render prints a model.Config as nginx.conf through text/template.
// The template only loops and prints; the one quoting function, q, is the
// boundary every user-derived string crosses.
package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"text/template"

	"github.com/Masterminds/sprig/v3"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/ngxconf"
	"github.com/portico-ingress/portico/templates"
)

// Renderer holds a parsed template. It is safe for concurrent use.
type Renderer struct {
	tmpl *template.Template
}

// Data is what the template sees.
type Data struct {
	// Config is the model to print.
	Config *model.Config
	// Generation numbers this config; nginx serves it on the internal server.
	Generation uint64
}

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
	return &Renderer{tmpl: t}, nil
}

// Render prints cfg with the given generation number.
func (r *Renderer) Render(cfg *model.Config, generation uint64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(4096 + 512*len(cfg.Servers))
	if err := r.tmpl.Execute(&buf, Data{Config: cfg, Generation: generation}); err != nil {
		return nil, fmt.Errorf("rendering nginx.conf: %w", err)
	}
	return buf.Bytes(), nil
}

// Hash returns the hex sha256 of a config rendered with generation 0. It
// identifies the content independently of the generation, so "did anything
// change?" is one comparison.
func (r *Renderer) Hash(cfg *model.Config) (string, []byte, error) {
	b, err := r.Render(cfg, 0)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), b, nil
}
