// Command echoserver is the backend of the demo and the end-to-end tests:
// it answers every request with a JSON description of who served it and
// what it received, so a test can tell which Service and endpoint nginx chose.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"
)

// Reply is what the server answers.
type Reply struct {
	// Service is the name given with -service.
	Service string `json:"service"`
	// Endpoint is the address the request arrived on.
	Endpoint string `json:"endpoint"`
	// Method, Path, Host and Proto describe the request as received.
	Method string `json:"method"`
	Path   string `json:"path"`
	Host   string `json:"host"`
	Proto  string `json:"proto"`
	// Headers are the request headers, one value per name (joined with ", ").
	Headers map[string]string `json:"headers"`
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9001", "address to listen on")
	service := flag.String("service", "echo", "name reported in every reply")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Error("listen failed", "address", *listen, "error", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: handler(*service), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("echo server listening", "service", *service, "address", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Error("serve failed", "error", err)
		os.Exit(1)
	}
}

func handler(service string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		reply := Reply{Service: service, Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Proto: r.Proto,
			Headers: map[string]string{}}
		if local != nil {
			reply.Endpoint = local.String()
		}
		names := make([]string, 0, len(r.Header))
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			v := r.Header.Values(k)
			s := v[0]
			for _, x := range v[1:] {
				s += ", " + x
			}
			reply.Headers[k] = s
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Served-By", fmt.Sprintf("%s@%s", service, reply.Endpoint))
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(reply)
	})
}
