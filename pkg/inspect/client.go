// Package inspect reads a running controller's debug views (/debug/* on
// --debug-address) and prints them for people (aligned tables) or scripts
// (JSON): the code behind `portico inspect` and `kubectl portico inspect`.
// It reaches the controller over plain HTTP, directly or through a
// Kubernetes port-forward to the controller's Pod (PortForward), and never
// changes anything.
package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/reload"
	"github.com/portico-ingress/portico/pkg/status"
)

// maxBody bounds what one view may return: nginx.conf at 10,000 Ingresses
// is tens of megabytes, far below this, and a wrong address that streams
// forever must not exhaust memory.
const maxBody = 512 << 20

// DefaultTimeout bounds one request to the controller.
const DefaultTimeout = 30 * time.Second

// ErrNoData is wrapped by errors for a view the controller has but that
// holds nothing yet (no configuration live, no Lua balancer).
var ErrNoData = errors.New("no data")

// ErrNoView is wrapped by errors for a view the controller does not serve
// at all: it is older than this command, or the address is not its debug
// server.
var ErrNoView = errors.New("view not served")

// Client reads the debug views of one controller.
type Client struct {
	// Base is the controller's debug server, e.g. "http://127.0.0.1:10255".
	Base string
	// HTTP does the requests; nil means a client with DefaultTimeout.
	HTTP *http.Client
	// Hint is added to connection errors: how the user may reach the
	// controller otherwise (it differs between --address and --kubeconfig).
	Hint string
	// Name is how errors call the controller, e.g. "pod portico/x port
	// 10255 (port-forward)"; "" means Base. Through a port-forward, Base
	// is a local port the user never typed.
	Name string
}

// where names the controller in errors.
func (c *Client) where() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Base
}

// get returns the body of path, or an error that says what to do.
func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	base := strings.TrimRight(c.Base, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("controller address %q: %w", c.Base, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		msg := fmt.Sprintf("cannot reach the controller's debug server at %s: %v", c.where(), err)
		if c.Hint != "" {
			msg += "\n" + c.Hint
		}
		return nil, errors.New(msg)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", path, c.where(), err)
	}
	if len(body) > maxBody {
		return nil, fmt.Errorf("%s from %s: answer larger than %d bytes", path, c.where(), maxBody)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusNotFound && isMuxNotFound(body):
		return nil, fmt.Errorf("%w: %s answered 404 for %s: the controller there is older than this command (it has no %s), "+
			"or that address is its probe server (--status-address) and not its debug server (--debug-address, 127.0.0.1:10255 by default)",
			ErrNoView, c.where(), path, path)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s", ErrNoData, strings.TrimSpace(string(body)))
	default:
		return nil, fmt.Errorf("%s answered %s for %s: %s", c.where(), resp.Status, path, strings.TrimSpace(string(body)))
	}
}

// isMuxNotFound tells net/http's answer for a path nobody registered from
// the status server's own 404s, which explain what is missing.
func isMuxNotFound(body []byte) bool {
	return strings.TrimSpace(string(body)) == "404 page not found"
}

// decode reads path as JSON into v.
func (c *Client) decode(ctx context.Context, path string, v any) error {
	body, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("%s from %s: not the JSON this command reads (%w); is the address a Portico controller's debug server?",
			path, c.where(), err)
	}
	return nil
}

// Config returns the live nginx.conf.
func (c *Client) Config(ctx context.Context) ([]byte, error) { return c.get(ctx, "/debug/config") }

// Reloads returns the recent reload events, newest first; limit > 0 keeps the newest limit.
func (c *Client) Reloads(ctx context.Context, limit int) ([]reload.Event, error) {
	path := "/debug/reloads"
	if limit > 0 {
		path += fmt.Sprintf("?limit=%d", limit)
	}
	var events []reload.Event
	return events, c.decode(ctx, path, &events)
}

// Balancer returns the Lua balancer's data nginx holds.
func (c *Client) Balancer(ctx context.Context) (model.Dynamic, error) {
	var d model.Dynamic
	return d, c.decode(ctx, "/debug/balancer", &d)
}

// Certificates returns the served certificates.
func (c *Client) Certificates(ctx context.Context) ([]status.CertificateView, error) {
	var list []status.CertificateView
	return list, c.decode(ctx, "/debug/certs", &list)
}

// Ingresses returns the Ingresses served, with their routes and findings.
func (c *Client) Ingresses(ctx context.Context) ([]status.IngressView, error) {
	var list []status.IngressView
	return list, c.decode(ctx, "/debug/ingresses", &list)
}
