package status

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// The JSON of /debug/certs and /debug/ingresses. Field names are part of
// the contract `portico inspect -o json` prints and scripts read: add
// fields, never rename or remove one. They are snake_case, as the reload
// events of /debug/reloads are.

// CertificateView is one TLS Secret whose certificate the live
// configuration serves. It holds only what every TLS client sees in the
// handshake (names, dates, issuer, serial, fingerprint): never the
// certificate's PEM and never anything of the key.
type CertificateView struct {
	// Namespace and Secret name the kubernetes.io/tls Secret.
	Namespace string `json:"namespace"`
	Secret    string `json:"secret"`
	// Hosts are the server names presenting the certificate, sorted.
	Hosts []string `json:"hosts"`
	// Subject is the subject's common name.
	Subject string `json:"subject"`
	// DNSNames are the certificate's DNS subject alternative names.
	DNSNames []string `json:"dns_names"`
	// Issuer is the issuer's common name.
	Issuer string `json:"issuer"`
	// Serial is the serial number in hex.
	Serial string `json:"serial"`
	// NotBefore and NotAfter bound the validity (UTC).
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// SHA256Fingerprint is the SHA-256 of the DER certificate, hex pairs
	// joined by colons.
	SHA256Fingerprint string `json:"sha256_fingerprint"`
	// Error says why the fields above are empty (the served file did not
	// parse); "" otherwise.
	Error string `json:"error,omitempty"`
}

// IngressView is one Ingress of the controller's class: what of it the
// live configuration serves and what the last build found wrong with it.
type IngressView struct {
	// Namespace and Name name the Ingress.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Served is false for an Ingress the live configuration serves nothing
	// of (only its findings are known).
	Served bool `json:"served"`
	// Paths are the routes served for it, sorted by host, path and match.
	Paths []PathView `json:"paths"`
	// Findings are the last build's findings about it.
	Findings []FindingView `json:"findings"`
}

// PathView is one route an Ingress has in the live configuration.
type PathView struct {
	// Host is the server name, "" for rules without a host (the default server).
	Host string `json:"host"`
	// Path is the URI nginx matches.
	Path string `json:"path"`
	// Match is how: "prefix", "exact", "regex" or "regex-caseless".
	Match string `json:"match"`
	// Service is the backend Service port ("namespace/name:port"), "" when none.
	Service string `json:"service"`
	// Upstream is the pool requests go to (the name /debug/balancer
	// lists), "" when nginx answers itself.
	Upstream string `json:"upstream"`
	// Return is the status nginx answers with when there is nothing to proxy to, else 0.
	Return int `json:"return,omitempty"`
	// Canary is set when the route is this Ingress's canary share of
	// another Ingress's location.
	Canary bool `json:"canary,omitempty"`
	// TLSSecret is the Secret ("namespace/name") the host's certificate
	// comes from, "" for plain HTTP or the default certificate.
	TLSSecret string `json:"tls_secret,omitempty"`
}

// FindingView is a finding of the model about an object.
type FindingView struct {
	// Reason is a short CamelCase cause, e.g. "ServiceNotFound".
	Reason string `json:"reason"`
	// Severity is "Served", "PartlyServed" or "NotServed".
	Severity string `json:"severity"`
	// Message says what is wrong and how to fix it.
	Message string `json:"message"`
}

// writeJSON answers 200 with v as indented JSON, or 500 when it does not
// encode; path names the endpoint in logs.
func (s *Server) writeJSON(w http.ResponseWriter, v any, path string) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.logger.Warn("status server: encode "+path, slog.Any("error", err))
		s.writeText(w, http.StatusInternalServerError, "cannot encode "+path+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	noCache(w)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(append(body, '\n')); err != nil {
		s.logger.Debug("status server: write "+path, slog.Any("error", err))
	}
}

func (s *Server) certificates(w http.ResponseWriter, _ *http.Request) {
	var list []CertificateView
	if s.opts.Certificates != nil {
		list = s.opts.Certificates()
	}
	if list == nil {
		list = []CertificateView{} // [] rather than null, as /debug/reloads
	}
	s.writeJSON(w, list, "/debug/certs")
}

func (s *Server) ingresses(w http.ResponseWriter, _ *http.Request) {
	var list []IngressView
	if s.opts.Ingresses != nil {
		list = s.opts.Ingresses()
	}
	if list == nil {
		list = []IngressView{}
	}
	s.writeJSON(w, list, "/debug/ingresses")
}
