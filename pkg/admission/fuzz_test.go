package admission_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/portico-ingress/portico/pkg/admission"
)

// FuzzHandler feeds the webhook bodies as an attacker on the network
// could send them: whatever the body, the handler answers (no panic, no
// hang), with a 4xx that says what is wrong or an AdmissionReview for the
// request's uid, and a refusal always says why.
func FuzzHandler(f *testing.F) {
	f.Add(reviewBody(f, "u1", "CREATE", map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "a", "namespace": "shop",
			"annotations": map[string]any{"nginx.ingress.kubernetes.io/auth-url": "http://x/#;\n}}}\nssl_engine /tmp/e.so;\n#"}},
		"spec": map[string]any{"ingressClassName": "portico", "rules": []any{map[string]any{"host": "a.shop.example.com"}}}}))
	f.Add(reviewBody(f, "u2", "UPDATE", map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "portico", "namespace": "portico"}, "data": map[string]any{"proxy-read-timeout": "x"}}))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"networking.k8s.io","version":"v1","kind":"Ingress"},"operation":"CREATE","object":null}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"networking.k8s.io","version":"v1","kind":"Ingress"},"operation":"CREATE","object":{"spec":{"rules":[{"host":""}],"tls":[{}]}}}}`))
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(loadCluster(f))
	h := admission.NewHandler(r, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, admission.Path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			if rec.Body.Len() == 0 {
				t.Fatalf("a %d without a message", rec.Code)
			}
			return
		default:
			t.Fatalf("answer %d: %s", rec.Code, rec.Body.String())
		}
		var in, out admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &in); err != nil || in.Request == nil {
			t.Fatalf("200 for a body that is not a review: %q", body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
			t.Fatalf("the answer is not a review: %v: %s", err, rec.Body.String())
		}
		if out.Response.UID != in.Request.UID {
			t.Fatalf("answer for uid %q, asked %q", out.Response.UID, in.Request.UID)
		}
		if !out.Response.Allowed && (out.Response.Result == nil || out.Response.Result.Message == "") {
			t.Fatalf("a refusal without a reason: %s", rec.Body.String())
		}
	})
}
