//go:build linux

package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// GuardedDial is the dialer of every client of the suites: it refuses any
// destination outside loopback and 198.18.0.0/15, so a test that goes wrong
// can never send traffic elsewhere.
func GuardedDial(ctx context.Context, network, address string) (net.Conn, error) {
	if err := AllowedTarget(address); err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: 5 * time.Second}
	return d.DialContext(ctx, network, address)
}

// AllowedTarget accepts host:port only for loopback and 198.18.0.0/15.
func AllowedTarget(address string) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("e2e: refusing to dial %q: only IP addresses are dialed", address)
	}
	if ip.IsLoopback() || IsTestHost(ip) {
		return nil
	}
	return fmt.Errorf("e2e: refusing to dial %s: only loopback and 198.18.0.0/15 are test hosts", address)
}

// IsTestHost reports whether ip is in 198.18.0.0/15, the range reserved for
// network benchmarking that the suites give their backends.
func IsTestHost(ip net.IP) bool {
	ip4 := ip.To4()
	return ip4 != nil && ip4[0] == 198 && ip4[1]&0xfe == 18
}

// EchoReply is what a backend answers, the shape of e2e/echoserver's Reply;
// declared here rather than imported so the tests pin the JSON.
type EchoReply struct {
	// Service names the Service the backend stands for.
	Service string `json:"service"`
	// Endpoint is the address the request arrived on.
	Endpoint string `json:"endpoint"`
	// Method is the request's method as received.
	Method string `json:"method"`
	// Path is the request URI as received, after nginx's rewrites.
	Path string `json:"path"`
	// Host is the Host header as received.
	Host string `json:"host"`
	// Proto is the protocol version between nginx and the backend.
	Proto string `json:"proto"`
	// Headers are the request headers, one value per name.
	Headers map[string]string `json:"headers"`
}

// Response is what nginx answered.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Header is the answer's header.
	Header http.Header
	// Body is the answer's body, cut at 1 MiB.
	Body string
	// Echo is the backend's reply, nil when the body is not one (an nginx page).
	Echo *EchoReply
}

// Served names the service that answered, or "" when nginx answered itself.
func (r Response) Served() string {
	if r.Echo == nil {
		return ""
	}
	return r.Echo.Service
}

// Endpoint is the backend address that answered, or "".
func (r Response) Endpoint() string {
	if r.Echo == nil {
		return ""
	}
	return r.Echo.Endpoint
}

// String says who answered, for messages.
func (r Response) String() string {
	if r.Echo != nil {
		return fmt.Sprintf("%d from %s at %s", r.Status, r.Echo.Service, r.Echo.Endpoint)
	}
	if loc := r.Header.Get("Location"); loc != "" {
		return fmt.Sprintf("%d from nginx, Location %s", r.Status, loc)
	}
	return fmt.Sprintf("%d from nginx: %.80q", r.Status, r.Body)
}

// NewHTTPClient returns a client whose every connection goes to
// 127.0.0.1:port whatever the URL says, so the URL's host only sets the Host
// header. It never follows redirects and never uses a proxy.
func NewHTTPClient(port int, keepAlive bool) *http.Client {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: !keepAlive,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return GuardedDial(ctx, network, addr)
			},
			MaxIdleConnsPerHost: 4,
		},
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// DoGet sends GET path with the given Host header through client.
func DoGet(client *http.Client, scheme, host, path string) (Response, error) {
	req, err := http.NewRequest(http.MethodGet, scheme+"://placeholder.invalid"+path, nil)
	if err != nil {
		return Response{}, err
	}
	req.Host = host
	return Do(client, req)
}

// Do sends req through client and reads the answer, decoding a backend's
// echo reply when the body is one.
func Do(client *http.Client, req *http.Request) (Response, error) {
	resp, err := client.Do(req)
	if err != nil {
		return Response{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Response{}, err
	}
	r := Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var e EchoReply
		if json.Unmarshal(body, &e) == nil && e.Service != "" {
			r.Echo = &e
		}
	}
	return r, nil
}
