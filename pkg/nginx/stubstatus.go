package nginx

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// StubStatusPath is where nginx's internal server answers stub_status
// (templates/nginx.tmpl).
const StubStatusPath = "/nginx_status"

// maxStubStatus bounds the answer read: stub_status prints four short lines.
const maxStubStatus = 4096

// StubStatus is what nginx's stub_status module reports: connection and
// request counts summed over all workers, kept in shared memory, so they
// run on across reloads and start again from zero when nginx restarts.
type StubStatus struct {
	// Active is the number of open client connections, waiting ones included.
	Active uint64
	// Accepted is the number of client connections accepted since nginx started.
	Accepted uint64
	// Handled is the number of accepted connections that were handled; it
	// is below Accepted only when a limit (worker_connections) was reached.
	Handled uint64
	// Requests is the number of client requests since nginx started.
	Requests uint64
	// Reading is the number of connections whose request header nginx reads.
	Reading uint64
	// Writing is the number of connections nginx answers on.
	Writing uint64
	// Waiting is the number of idle keep-alive connections.
	Waiting uint64
}

// ParseStubStatus reads stub_status's text:
//
//	Active connections: 2
//	server accepts handled requests
//	 10 10 31
//	Reading: 0 Writing: 1 Waiting: 1
//
// Unlike ingress-nginx, which reads a missing figure as 0, any other text
// is an error: a false zero on a counter looks like an nginx restart.
func ParseStubStatus(b []byte) (StubStatus, error) {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return StubStatus{}, fmt.Errorf("stub_status: %w", err)
	}
	if len(lines) != 4 || lines[1] != "server accepts handled requests" {
		return StubStatus{}, fmt.Errorf("stub_status: unexpected answer %q", excerptOf(b))
	}
	var s StubStatus
	if err := scanFields(lines[0], []string{"Active", "connections:", ""}, &s.Active); err != nil {
		return StubStatus{}, err
	}
	if err := scanFields(lines[2], []string{"", "", ""}, &s.Accepted, &s.Handled, &s.Requests); err != nil {
		return StubStatus{}, err
	}
	if err := scanFields(lines[3], []string{"Reading:", "", "Writing:", "", "Waiting:", ""}, &s.Reading, &s.Writing, &s.Waiting); err != nil {
		return StubStatus{}, err
	}
	return s, nil
}

// scanFields matches the space-separated fields of line against pattern:
// a word must be equal, "" is a number stored in the next of into.
func scanFields(line string, pattern []string, into ...*uint64) error {
	fields := strings.Fields(line)
	if len(fields) != len(pattern) {
		return fmt.Errorf("stub_status: unexpected line %q", line)
	}
	for i, want := range pattern {
		if want != "" {
			if fields[i] != want {
				return fmt.Errorf("stub_status: unexpected line %q", line)
			}
			continue
		}
		n, err := strconv.ParseUint(fields[i], 10, 64)
		if err != nil {
			return fmt.Errorf("stub_status: line %q: %w", line, err)
		}
		*into[0] = n
		into = into[1:]
	}
	return nil
}

// excerptOf is the start of b, for an error message.
func excerptOf(b []byte) string {
	const most = 200
	if len(b) > most {
		return string(b[:most]) + "..."
	}
	return string(b)
}

// StatusClient reads stub_status from nginx's internal server.
type StatusClient struct {
	url    string
	client *http.Client
}

// NewStatusClient returns a client for stub_status on the internal server,
// reached through the unix socket when socket is set (else over TCP at
// url's host). Each read gives up after timeout: a scrape must not hang on
// an nginx that is stopped or busy.
func NewStatusClient(url, socket string, timeout time.Duration) *StatusClient {
	return &StatusClient{url: url, client: InternalClient(socket, timeout)}
}

// Read fetches and parses stub_status once.
func (c *StatusClient) Read(ctx context.Context) (StubStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return StubStatus{}, fmt.Errorf("build stub_status request: %w", err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return StubStatus{}, fmt.Errorf("get %s: %w", c.url, err)
	}
	defer func() { _ = resp.Body.Close() }() // read-only; nothing to lose
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxStubStatus))
	if err != nil {
		return StubStatus{}, fmt.Errorf("read %s: %w", c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return StubStatus{}, fmt.Errorf("get %s: status %d", c.url, resp.StatusCode)
	}
	return ParseStubStatus(body)
}
