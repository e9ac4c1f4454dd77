package nginx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MetricsPath is where nginx's internal server answers the request
// figures its workers aggregate (GET) and deletes those of routes (POST).
const MetricsPath = "/portico/metrics"

// Figures reads the request figures from nginx's internal server
// (requestmetrics.Source).
type Figures struct {
	url    string
	client *http.Client
}

// NewFigures returns a reader of the internal server's figures at url
// (e.g. http://nginx/portico/metrics), through the unix socket when set.
func NewFigures(url, socket string) *Figures {
	return &Figures{url: url, client: InternalClient(socket, time.Minute)}
}

// Dump returns the figures, one "KEY\tVALUE" line each.
func (f *Figures) Dump(ctx context.Context) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.url, nil)
	if err != nil {
		return nil, fmt.Errorf("request figures: %w", err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("request figures: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("request figures: nginx answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp.Body, nil
}

// Forget deletes the figures of routes.
func (f *Figures) Forget(ctx context.Context, routes []string) error {
	body := strings.Join(routes, "\n") + "\n"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewBufferString(body))
	if err != nil {
		return fmt.Errorf("forgetting request figures: %w", err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return fmt.Errorf("forgetting request figures: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("forgetting request figures: nginx answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}
