// Package dnstest is a DNS server for tests: it listens on 127.0.0.1 (UDP,
// a free port) and answers A and AAAA queries from a table the test
// changes, or fails on purpose. It is for tests only.
package dnstest

import (
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Modes of a Server.
const (
	// Answer answers from the table: a name without addresses is NXDOMAIN.
	Answer = ""
	// ServFail answers SERVFAIL to every query.
	ServFail = "servfail"
	// Silent answers nothing: the client times out.
	Silent = "silent"
)

// Server is a DNS server on 127.0.0.1, stopped when the test ends.
type Server struct {
	conn    *net.UDPConn
	queries atomic.Int64

	mu      sync.Mutex
	records map[string][]netip.Addr // by lower-case name with the final dot
	mode    string
}

// Start starts a server; it stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s := &Server{conn: conn, records: map[string][]netip.Addr{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.serve()
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		<-done
	})
	return s
}

// Addr is where the server listens.
func (s *Server) Addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Queries is the number of queries received so far.
func (s *Server) Queries() int64 { return s.queries.Load() }

// Set makes name (without the final dot) answer with addrs; none makes it NXDOMAIN.
func (s *Server) Set(name string, addrs ...string) {
	list := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		list = append(list, netip.MustParseAddr(a))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[strings.ToLower(name)+"."] = list
}

// SetMode sets how the server answers: Answer, ServFail or Silent.
func (s *Server) SetMode(mode string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mode = mode
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed
		}
		s.queries.Add(1)
		if reply := s.answer(buf[:n]); reply != nil {
			_, _ = s.conn.WriteToUDPAddrPort(reply, from)
		}
	}
}

// answer builds the reply to one query, or nil for none.
func (s *Server) answer(query []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	s.mu.Lock()
	mode := s.mode
	addrs := s.records[strings.ToLower(q.Name.String())]
	s.mu.Unlock()
	rcode := dnsmessage.RCodeSuccess
	switch {
	case mode == Silent:
		return nil
	case mode == ServFail:
		rcode = dnsmessage.RCodeServerFailure
	case len(addrs) == 0:
		rcode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: rcode})
	if b.StartQuestions() != nil || b.Question(q) != nil || b.StartAnswers() != nil {
		return nil
	}
	if rcode == dnsmessage.RCodeSuccess {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 30}
		for _, a := range addrs {
			switch {
			case q.Type == dnsmessage.TypeA && a.Is4():
				hdr.Type = dnsmessage.TypeA
				err = b.AResource(hdr, dnsmessage.AResource{A: a.As4()})
			case q.Type == dnsmessage.TypeAAAA && a.Is6():
				hdr.Type = dnsmessage.TypeAAAA
				err = b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: a.As16()})
			}
			if err != nil {
				return nil
			}
		}
	}
	msg, err := b.Finish()
	if err != nil {
		return nil
	}
	return msg
}
