package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/portico-ingress/portico/pkg/admission"
	"github.com/portico-ingress/portico/pkg/certs"
	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
	"github.com/portico-ingress/portico/pkg/testutil/fixture"
)

// reviewCase is one case of testdata/reviews.yaml.
type reviewCase struct {
	Name           string         `json:"name"`
	Operation      string         `json:"operation"`
	AllowConflicts bool           `json:"allowConflicts"`
	Allowed        bool           `json:"allowed"`
	Message        []string       `json:"message"`
	Warnings       []string       `json:"warnings"`
	Object         map[string]any `json:"object"`
}

func modelOptions() model.Options {
	return model.Options{
		ControllerClass: model.DefaultControllerClass,
		IngressClass:    model.DefaultIngressClass,
		ConfigMap:       "portico/portico",
		CertificateDir:  "/etc/portico/certs",
		AuthDir:         "/etc/portico/auth",
		Global:          model.Global{DefaultCertificate: "/etc/portico/certs/default.pem"},
	}
}

func loadCluster(t testing.TB) *snapshot.Snapshot {
	t.Helper()
	snap, err := fixture.LoadFile("testdata/cluster.yaml")
	require.NoError(t, err)
	return snap
}

// reviewBody is the AdmissionReview the API server would send for obj.
func reviewBody(t testing.TB, uid, operation string, obj map[string]any) []byte {
	t.Helper()
	raw, err := json.Marshal(obj)
	require.NoError(t, err)
	gvk := schema.FromAPIVersionAndKind(obj["apiVersion"].(string), obj["kind"].(string))
	meta, _ := obj["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	name, _ := meta["name"].(string)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID(uid),
			Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
			Namespace: ns, Name: name,
			Operation: admissionv1.Operation(operation),
			Object:    k8sruntime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	require.NoError(t, err)
	return body
}

// post sends body to h as the API server does and returns the status
// code, the decoded answer (for 200) and the raw body.
func post(t testing.TB, h http.Handler, body []byte) (int, *admissionv1.AdmissionReview, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, admission.Path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return rec.Code, nil, rec.Body.String()
	}
	var out admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	return rec.Code, &out, rec.Body.String()
}

// TestReviews runs testdata/reviews.yaml through the HTTP handler, as the
// API server would send them.
func TestReviews(t *testing.T) {
	raw, err := os.ReadFile("testdata/reviews.yaml")
	require.NoError(t, err)
	var cases []reviewCase
	require.NoError(t, yaml.Unmarshal(raw, &cases))
	require.NotEmpty(t, cases)
	snap := loadCluster(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := admission.NewReviewer(modelOptions(), admission.Options{AllowConflicts: c.AllowConflicts})
			r.SetSnapshot(snap)
			h := admission.NewHandler(r, nil, nil)
			op := c.Operation
			if op == "" {
				op = "CREATE"
			}
			code, out, body := post(t, h, reviewBody(t, "uid-"+c.Name, op, c.Object))
			require.Equal(t, http.StatusOK, code, body)
			assert.Equal(t, "AdmissionReview", out.Kind)
			assert.Equal(t, "admission.k8s.io/v1", out.APIVersion)
			resp := out.Response
			require.NotNil(t, resp)
			assert.Equal(t, types.UID("uid-"+c.Name), resp.UID)
			require.Equal(t, c.Allowed, resp.Allowed, "%s", body)
			if !c.Allowed {
				require.NotNil(t, resp.Result)
				assert.EqualValues(t, http.StatusForbidden, resp.Result.Code)
				for _, s := range c.Message {
					assert.Contains(t, resp.Result.Message, s)
				}
			}
			all := strings.Join(resp.Warnings, "\n")
			for _, s := range c.Warnings {
				assert.Contains(t, all, s)
			}
			if len(c.Warnings) == 0 && c.Allowed {
				assert.Empty(t, resp.Warnings)
			}
		})
	}
}

// TestReviewMatchesCheck: the webhook and portico check judge through
// pkg/verdict on the model's findings; for every Ingress of the fixture
// the webhook's verdict is the one a whole build gives.
func TestReviewMatchesCheck(t *testing.T) {
	snap := loadCluster(t)
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(snap)
	for _, ing := range snap.Ingresses {
		d, err := r.Ingress(ing, false)
		require.NoError(t, err)
		require.NotNil(t, d.Report)
		assert.Equal(t, "served", d.Report.Verdict, "%s/%s", ing.Namespace, ing.Name)
		assert.True(t, d.Allowed)
	}
}

// TestNotReady: before the controller has read the cluster the webhook
// answers 503, so that the API server applies the failure policy.
func TestNotReady(t *testing.T) {
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	h := admission.NewHandler(r, nil, nil)
	ing := map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "a", "namespace": "shop"}}
	code, _, body := post(t, h, reviewBody(t, "u1", "CREATE", ing))
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "has not read the cluster yet")
}

// TestBadRequests: what is not an AdmissionReview gets a 4xx that says
// what is wrong, and nothing is reviewed.
func TestBadRequests(t *testing.T) {
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(loadCluster(t))
	h := admission.NewHandler(r, nil, nil)
	good := reviewBody(t, "u1", "CREATE", map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "a", "namespace": "shop"}})
	tests := []struct {
		name        string
		method      string
		contentType string
		body        []byte
		code        int
		says        string
	}{
		{"GET", http.MethodGet, "application/json", good, http.StatusMethodNotAllowed, "use POST"},
		{"not JSON", http.MethodPost, "text/plain", good, http.StatusUnsupportedMediaType, "Content-Type"},
		{"garbage", http.MethodPost, "application/json", []byte("{not json"), http.StatusBadRequest, "not an AdmissionReview"},
		{"two documents", http.MethodPost, "application/json", append(append([]byte{}, good...), good...), http.StatusBadRequest, "more than one"},
		{"v1beta1", http.MethodPost, "application/json", bytes.Replace(good, []byte("admission.k8s.io/v1"), []byte("admission.k8s.io/v1beta1"), 1),
			http.StatusBadRequest, "want admission.k8s.io/v1"},
		{"no request", http.MethodPost, "application/json", []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
			http.StatusBadRequest, "no request"},
		{"no uid", http.MethodPost, "application/json", bytes.Replace(good, []byte(`"uid":"u1"`), []byte(`"uid":""`), 1),
			http.StatusBadRequest, "no uid"},
		{"object not an Ingress", http.MethodPost, "application/json",
			bytes.Replace(good, []byte(`"metadata":{"name":"a"`), []byte(`"metadata":{"name":["a"]`), 1), http.StatusBadRequest, "not an Ingress"},
		{"too big", http.MethodPost, "application/json", bytes.Repeat([]byte(" "), admission.MaxRequestBytes+1),
			http.StatusRequestEntityTooLarge, "over"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, admission.Path, bytes.NewReader(tc.body))
			req.Header.Set("Content-Type", tc.contentType)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, tc.code, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), tc.says)
		})
	}
}

// TestOtherOperationsAndKinds: deletes are not reviewed, and a kind the
// webhook was not meant to get is admitted with a warning that says so.
func TestOtherOperationsAndKinds(t *testing.T) {
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(loadCluster(t))
	h := admission.NewHandler(r, nil, nil)
	bad := map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "a", "namespace": "shop",
			"annotations": map[string]any{"nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/33"}},
		"spec": map[string]any{"ingressClassName": "portico"}}
	_, out, _ := post(t, h, reviewBody(t, "u1", "DELETE", bad))
	assert.True(t, out.Response.Allowed)
	_, out, _ = post(t, h, reviewBody(t, "u2", "CREATE", map[string]any{"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "namespace": "shop"}}))
	assert.True(t, out.Response.Allowed)
	assert.Equal(t, []string{"portico admission does not review /v1, Kind=Secret"}, out.Response.Warnings)
	_, out, _ = post(t, h, reviewBody(t, "u3", "CREATE", bad))
	assert.False(t, out.Response.Allowed, "the same object is refused on CREATE")
}

// TestWarningsAreBounded: a tenant's many bad annotations cannot make an
// answer that floods the API server or a terminal.
func TestWarningsAreBounded(t *testing.T) {
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(loadCluster(t))
	ann := map[string]string{}
	for i := range 100 {
		ann["nginx.ingress.kubernetes.io/made-up-"+strings.Repeat("x", i)] = "\x1b[31mred\x1b[0m"
	}
	ing := &networkingv1.Ingress{}
	ing.Name, ing.Namespace, ing.Annotations = "many", "shop", ann
	class := "portico"
	ing.Spec.IngressClassName = &class
	ing.Spec.Rules = []networkingv1.IngressRule{{Host: "many.shop.example.com"}}
	d, err := r.Ingress(ing, true)
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Len(t, d.Warnings, 21)
	assert.Contains(t, d.Warnings[20], "80 more warnings")
	for _, w := range d.Warnings {
		assert.LessOrEqual(t, len(w), 512)
		assert.NotContains(t, w, "\x1b")
	}
}

// TestReviewHoldsNothing: once answered, nothing of the object under
// review stays reachable from the Reviewer (the collector frees it).
func TestReviewHoldsNothing(t *testing.T) {
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(loadCluster(t))
	freed := make(chan struct{})
	func() {
		ing := &networkingv1.Ingress{}
		ing.Name, ing.Namespace = "held", "shop"
		ing.Annotations = map[string]string{"nginx.ingress.kubernetes.io/whitelist-source-range": "10.0.0.0/33"}
		class := "portico"
		ing.Spec.IngressClassName = &class
		ing.Spec.Rules = []networkingv1.IngressRule{{Host: "held.shop.example.com"}}
		runtime.SetFinalizer(ing, func(*networkingv1.Ingress) { close(freed) })
		d, err := r.Ingress(ing, false)
		require.NoError(t, err)
		require.False(t, d.Allowed)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-freed:
			runtime.KeepAlive(r)
			return
		default:
		}
		require.True(t, time.Now().Before(deadline), "the reviewed Ingress is still reachable after its review")
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLiveOwnershipIsKept: an older Ingress of another namespace edited to
// claim a host is refused when the controller's live config has the host
// with its owner (the controller would keep serving the owner), and would
// be admitted by age alone, as portico check judges.
func TestLiveOwnershipIsKept(t *testing.T) {
	snap := loadCluster(t)
	var old *networkingv1.Ingress
	for _, ing := range snap.Ingresses {
		if ing.Name == "pay" {
			continue
		}
		old = ing.DeepCopy()
	}
	require.NotNil(t, old)
	old.Name, old.UID = "old", "old-uid"
	old.CreationTimestamp = metav1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	old.Spec.Rules[0].Host = "old.shop.example.com"
	snap.Ingresses = append(snap.Ingresses, old)
	accepted := map[string]*networkingv1.Ingress{}
	for _, ing := range snap.Ingresses {
		accepted[ing.Namespace+"/"+ing.Name] = ing
	}
	edited := old.DeepCopy()
	edited.Spec.Rules = append(edited.Spec.Rules, networkingv1.IngressRule{Host: "pay.example.com"})

	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(snap)
	d, err := r.Ingress(edited, false)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "by age alone shop's 2020 Ingress owns the host: %s", d.Message)

	r.SetLive(accepted, nil)
	d, err = r.Ingress(edited, false)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Contains(t, d.Message, "HostNotOwned")
	assert.Contains(t, d.Message, "namespace billing owns the host")

	d, err = r.Ingress(old, false)
	require.NoError(t, err)
	assert.True(t, d.Allowed, "its own version as served is still admitted: %s", d.Message)
}

// slowBody is a request body that sends nothing until released: a client
// that holds a review slot.
type slowBody struct{ release chan struct{} }

func (b slowBody) Read([]byte) (int, error) {
	<-b.release
	return 0, io.EOF
}

// TestInFlightIsBounded: MaxInFlight slow senders hold every slot; a
// further review waits and gives up with a 503 when its request ends, and
// is answered once a slot is free.
func TestInFlightIsBounded(t *testing.T) {
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(loadCluster(t))
	h := admission.NewHandler(r, nil, nil)
	release := make(chan struct{})
	done := make(chan int, admission.MaxInFlight)
	for range admission.MaxInFlight {
		go func() {
			req := httptest.NewRequest(http.MethodPost, admission.Path, slowBody{release})
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			done <- rec.Code
		}()
	}
	body := reviewBody(t, "u1", "CREATE", map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "a", "namespace": "shop"}})
	// Wait until the slow senders hold every slot: a review with a short
	// deadline then gets 503.
	var code int
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req := httptest.NewRequest(http.MethodPost, admission.Path, bytes.NewReader(body)).WithContext(ctx)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		code = rec.Code
		return code == http.StatusServiceUnavailable
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	close(release)
	for range admission.MaxInFlight {
		assert.Equal(t, http.StatusBadRequest, <-done, "an empty body is not a review")
	}
	got, _, _ := post(t, h, body)
	assert.Equal(t, http.StatusOK, got)
}

// TestDirectReviewsRevealNoKeys: anyone who reaches the webhook's port can
// send a review as if from any namespace (without --admission-client-ca);
// what the answer tells of that namespace's Secrets is names and
// certificate facts, never key material.
func TestDirectReviewsRevealNoKeys(t *testing.T) {
	snap := loadCluster(t)
	certPEM, keyPEM, err := certs.SelfSignedFor([]string{"pay.example.com"}, time.Hour)
	require.NoError(t, err)
	secret := &corev1.Secret{Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}}
	secret.Namespace, secret.Name = "billing", "pay-tls"
	snap.Secrets = append(snap.Secrets, secret)
	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(snap)
	h := admission.NewHandler(r, nil, nil)
	for _, host := range []string{"pay.example.com", "other.example.com"} {
		probe := map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
			"metadata": map[string]any{"name": "probe", "namespace": "billing"},
			"spec": map[string]any{"ingressClassName": "portico",
				"tls":   []any{map[string]any{"hosts": []any{host}, "secretName": "pay-tls"}},
				"rules": []any{map[string]any{"host": host}}}}
		code, _, body := post(t, h, reviewBody(t, "probe", "CREATE", probe))
		require.Equal(t, http.StatusOK, code)
		assert.NotContains(t, body, "PRIVATE KEY")
		assert.NotContains(t, body, "BEGIN")
		keyLines := strings.Split(string(secret.Data[corev1.TLSPrivateKeyKey]), "\n")
		for _, line := range keyLines[1 : len(keyLines)-2] {
			assert.NotContains(t, body, line[:16], "a piece of the key is in the answer")
		}
	}
}

// TestFailureInsideAnswersClearly: a failure inside a review (here a
// handler without a Reviewer, which panics) is answered with a 500 that
// names the object, so the API server applies the failure policy and
// shows why, and the handler keeps serving.
func TestFailureInsideAnswersClearly(t *testing.T) {
	h := admission.NewHandler(nil, nil, nil)
	body := reviewBody(t, "u1", "CREATE", map[string]any{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
		"metadata": map[string]any{"name": "a", "namespace": "shop"}})
	for range 2 {
		code, _, msg := post(t, h, body)
		assert.Equal(t, http.StatusInternalServerError, code)
		assert.Contains(t, msg, "portico admission: internal error reviewing Ingress shop/a")
	}
}

// TestNewSnapshotsAreUsed: a review judges against the latest snapshot
// once it is prepared (in the background, so reviews never wait for it).
func TestNewSnapshotsAreUsed(t *testing.T) {
	before := loadCluster(t)
	after := *before
	owner := before.Ingresses[0].DeepCopy()
	owner.Name, owner.UID = "blog", "blog-uid"
	owner.Spec.Rules[0].Host = "blog.shop.example.com"
	after.Ingresses = append(slices.Clone(before.Ingresses), owner)
	thief := owner.DeepCopy()
	thief.Namespace, thief.Name, thief.UID = "billing", "thief", ""

	r := admission.NewReviewer(modelOptions(), admission.Options{})
	r.SetSnapshot(before)
	d, err := r.Ingress(thief, true)
	require.NoError(t, err)
	require.True(t, d.Allowed, "nobody owns the host yet: %s", d.Message)
	r.SetSnapshot(&after)
	assert.Eventually(t, func() bool {
		d, err := r.Ingress(thief, true)
		return err == nil && !d.Allowed && strings.Contains(d.Message, "HostNotOwned")
	}, 5*time.Second, 5*time.Millisecond)
}
