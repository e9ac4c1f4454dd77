//go:build linux

package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoReply is what a backend answers, the shape of e2e/echoserver's Reply.
type echoReply struct {
	Service  string            `json:"service"`
	Endpoint string            `json:"endpoint"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Host     string            `json:"host"`
	Proto    string            `json:"proto"`
	Headers  map[string]string `json:"headers"`
}

// newHTTPClient returns a client whose every connection goes to
// 127.0.0.1:port whatever the URL says, so the URL's host only sets the Host
// header. It never follows redirects and never uses a proxy.
func newHTTPClient(port int, keepAlive bool) *http.Client {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: !keepAlive,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return guardedDial(ctx, network, addr)
			},
			MaxIdleConnsPerHost: 4,
		},
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// response is what nginx answered.
type response struct {
	status int
	header http.Header
	body   string
	// echo is the backend's reply, nil when the body is not one (an nginx page).
	echo *echoReply
}

// served names the service that answered, or "" when nginx answered itself.
func (r response) served() string {
	if r.echo == nil {
		return ""
	}
	return r.echo.Service
}

// endpoint is the backend address that answered, or "".
func (r response) endpoint() string {
	if r.echo == nil {
		return ""
	}
	return r.echo.Endpoint
}

func (r response) String() string {
	if r.echo != nil {
		return fmt.Sprintf("%d from %s at %s", r.status, r.echo.Service, r.echo.Endpoint)
	}
	if loc := r.header.Get("Location"); loc != "" {
		return fmt.Sprintf("%d from nginx, Location %s", r.status, loc)
	}
	return fmt.Sprintf("%d from nginx: %.80q", r.status, r.body)
}

// request sends GET path with the given Host header to nginx's HTTP port.
func (c *controller) request(host, path string) (response, error) {
	return doGet(c.client, "http", host, path)
}

func doGet(client *http.Client, scheme, host, path string) (response, error) {
	req, err := http.NewRequest(http.MethodGet, scheme+"://placeholder.invalid"+path, nil)
	if err != nil {
		return response{}, err
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return response{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return response{}, err
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var e echoReply
		if json.Unmarshal(body, &e) == nil && e.Service != "" {
			r.echo = &e
		}
	}
	return r, nil
}

// get sends GET path with the given Host header; transport errors fail the test.
func (c *controller) get(t testing.TB, host, path string) response {
	t.Helper()
	r, err := c.request(host, path)
	require.NoError(t, err, "GET http://%s%s", host, path)
	return r
}

// waitServed waits until host+path answers 200 from service and returns
// the response.
func (c *controller) waitServed(t testing.TB, host, path, service string) response {
	t.Helper()
	return c.waitStatus(t, host, path, http.StatusOK, service)
}

// waitStatus waits until host+path answers status from service ("" for
// nginx itself) and returns the response.
func (c *controller) waitStatus(t testing.TB, host, path string, status int, service string) response {
	t.Helper()
	var last response
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		r, err := c.request(host, path)
		require.NoError(ct, err)
		last = r
		assert.Equal(ct, status, r.status, "GET http://%s%s: %s", host, path, r)
		assert.Equal(ct, service, r.served(), "GET http://%s%s: %s", host, path, r)
	}, routeTimeout, pollInterval)
	return last
}

// eventually retries cond every pollInterval until it returns true, and
// fails the test if it has not within routeTimeout.
func eventually(t testing.TB, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	eventuallyWithin(t, routeTimeout, cond, msgAndArgs...)
}

// eventuallyWithin is eventually with its own bound.
func eventuallyWithin(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			msg := "condition not met"
			if len(msgAndArgs) > 0 {
				if format, ok := msgAndArgs[0].(string); ok {
					msg = fmt.Sprintf(format, msgAndArgs[1:]...)
				}
			}
			t.Fatalf("%s within %s", msg, timeout)
		}
		time.Sleep(pollInterval)
	}
}
