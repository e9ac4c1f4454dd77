package admission

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxRequestBytes bounds an AdmissionReview's body. The API server sends
// the object and its old version; etcd keeps objects under 1.5 MiB, so
// 4 MiB holds any honest review and refuses a flood before it is read.
const MaxRequestBytes = 4 << 20

// Path is where the handler answers; the webhook configuration names it.
const Path = "/validate"

// MaxInFlight bounds the reviews read and judged at once: a review takes
// well under a millisecond of CPU, so more at once on a few cores only
// queue, while each may hold a MaxRequestBytes body and its decoding. A
// flood of large or slow bodies from anyone who reaches the port thus
// costs at most MaxInFlight of them in memory; the rest wait for a slot
// until the API server's timeout, and are answered 503 when their
// request ends first.
const MaxInFlight = 8

// Kinds the webhook reviews.
var (
	ingressKind   = metav1.GroupVersionKind{Group: "networking.k8s.io", Version: "v1", Kind: "Ingress"}
	configMapKind = metav1.GroupVersionKind{Group: "", Version: "v1", Kind: "ConfigMap"}
)

// Recorder counts reviews (the controller's metrics); nil records nothing.
type Recorder interface {
	// Review records one answered review: kind "Ingress", "ConfigMap" or
	// "other", result "allowed", "warned", "refused" or "error".
	Review(kind, result string, took time.Duration)
}

// Handler answers AdmissionReviews with the Reviewer's decisions.
type Handler struct {
	reviewer *Reviewer
	log      *slog.Logger
	record   Recorder
	slots    chan struct{}
}

// NewHandler returns the webhook's HTTP handler.
func NewHandler(r *Reviewer, log *slog.Logger, record Recorder) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{reviewer: r, log: log, record: record, slots: make(chan struct{}, MaxInFlight)}
}

// httpError is a failure to answer at all: the API server then applies
// the webhook's failurePolicy, and shows the message.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

// ServeHTTP decodes one AdmissionReview, judges its object and answers.
// Requests that are not an AdmissionReview get a 4xx and a message that
// says what is wrong; a failure inside the review a 5xx.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	kind := "other"
	resp, err := h.answer(w, req, &kind)
	took := time.Since(start)
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) {
			he = &httpError{code: http.StatusInternalServerError, msg: err.Error()}
		}
		h.log.Warn("admission review not answered", "kind", kind, "code", he.code, "error", he.msg, "took", took)
		if h.record != nil {
			h.record.Review(kind, "error", took)
		}
		http.Error(w, he.msg, he.code)
		return
	}
	result := "allowed"
	switch {
	case !resp.Response.Allowed:
		result = "refused"
	case len(resp.Response.Warnings) > 0:
		result = "warned"
	}
	if h.record != nil {
		h.record.Review(kind, result, took)
	}
	body, err := json.Marshal(resp)
	if err != nil {
		h.log.Error("admission answer not encoded", "error", err)
		http.Error(w, "portico admission: answer not encoded", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if _, err := w.Write(body); err != nil {
		h.log.Debug("admission answer not sent", "error", err)
	}
}

// answer reads and judges one review. kind is set as soon as it is known.
func (h *Handler) answer(w http.ResponseWriter, req *http.Request, kind *string) (resp *admissionv1.AdmissionReview, err error) {
	if req.Method != http.MethodPost {
		return nil, &httpError{http.StatusMethodNotAllowed, "portico admission: use POST with an AdmissionReview"}
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	case <-req.Context().Done():
		return nil, &httpError{http.StatusServiceUnavailable, "portico admission: busy; no review slot before the request ended"}
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "application/json" {
		return nil, &httpError{http.StatusUnsupportedMediaType, "portico admission: Content-Type must be application/json"}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &httpError{http.StatusRequestEntityTooLarge,
				fmt.Sprintf("portico admission: the review is over %d bytes", MaxRequestBytes)}
		}
		return nil, &httpError{http.StatusBadRequest, "portico admission: reading the review: " + err.Error()}
	}
	review, err := decodeReview(raw)
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, "portico admission: " + err.Error()}
	}
	request := review.Request
	*kind = kindOf(request)
	defer func() {
		// A panic in a review is a bug: answer it as an error (the
		// failure policy applies) rather than drop the connection.
		if p := recover(); p != nil {
			h.log.Error("admission review panicked", "kind", *kind, "namespace", request.Namespace, "name", request.Name,
				"panic", fmt.Sprint(p))
			resp, err = nil, &httpError{http.StatusInternalServerError,
				fmt.Sprintf("portico admission: internal error reviewing %s %s/%s", *kind, request.Namespace, request.Name)}
		}
	}()
	d, err := h.decide(request)
	if err != nil {
		return nil, err
	}
	out := &admissionv1.AdmissionReview{
		TypeMeta: review.TypeMeta,
		Response: &admissionv1.AdmissionResponse{UID: request.UID, Allowed: d.Allowed, Warnings: d.Warnings},
	}
	if !d.Allowed {
		out.Response.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden,
			Reason: metav1.StatusReasonForbidden, Message: d.Message}
	}
	h.log.Info("admission review", "kind", *kind, "operation", string(request.Operation), "namespace", request.Namespace,
		"name", request.Name, "allowed", d.Allowed, "warnings", len(d.Warnings))
	return out, nil
}

// decodeReview reads an AdmissionReview v1 with a request.
func decodeReview(raw []byte) (*admissionv1.AdmissionReview, error) {
	var review admissionv1.AdmissionReview
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&review); err != nil {
		return nil, fmt.Errorf("the body is not an AdmissionReview: %w", err)
	}
	if len(bytes.TrimSpace(raw[dec.InputOffset():])) > 0 {
		return nil, errors.New("the body holds more than one JSON document")
	}
	if review.APIVersion != admissionv1.SchemeGroupVersion.String() || review.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("apiVersion %q, kind %q: want %s AdmissionReview",
			review.APIVersion, review.Kind, admissionv1.SchemeGroupVersion)
	}
	if review.Request == nil {
		return nil, errors.New("the AdmissionReview has no request")
	}
	if review.Request.UID == "" {
		return nil, errors.New("the AdmissionReview's request has no uid")
	}
	return &review, nil
}

// kindOf names the request's kind for logs and metrics: "Ingress",
// "ConfigMap" or "other".
func kindOf(req *admissionv1.AdmissionRequest) string {
	switch req.Kind {
	case ingressKind:
		return "Ingress"
	case configMapKind:
		return "ConfigMap"
	}
	return "other"
}

// decide judges the request's object.
func (h *Handler) decide(req *admissionv1.AdmissionRequest) (Decision, error) {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return Decision{Allowed: true}, nil
	}
	switch req.Kind {
	case ingressKind:
		var ing networkingv1.Ingress
		if err := json.Unmarshal(req.Object.Raw, &ing); err != nil {
			return Decision{}, &httpError{http.StatusBadRequest, "portico admission: the object is not an Ingress: " + err.Error()}
		}
		d, err := h.reviewer.Ingress(&ing, req.Operation == admissionv1.Create)
		return d, notReady(err)
	case configMapKind:
		var cm corev1.ConfigMap
		if err := json.Unmarshal(req.Object.Raw, &cm); err != nil {
			return Decision{}, &httpError{http.StatusBadRequest, "portico admission: the object is not a ConfigMap: " + err.Error()}
		}
		if !h.reviewer.IsOptionsConfigMap(cm.Namespace, cm.Name) {
			// The webhook configuration should not have sent it.
			return Decision{Allowed: true}, nil
		}
		d, err := h.reviewer.ConfigMap(&cm)
		return d, notReady(err)
	default:
		// A webhook configuration sending other kinds is not ours to
		// police; say so instead of refusing the cluster's writes.
		return Decision{Allowed: true, Warnings: []string{fmt.Sprintf("portico admission does not review %s", req.Kind.String())}}, nil
	}
}

// notReady makes ErrNotReady a 503, so that the failure policy applies.
func notReady(err error) error {
	if errors.Is(err, ErrNotReady) {
		return &httpError{http.StatusServiceUnavailable, err.Error()}
	}
	return err
}
