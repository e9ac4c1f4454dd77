package model_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/portico-ingress/portico/pkg/model"
	"github.com/portico-ingress/portico/pkg/snapshot"
)

// findingsAbout returns the findings about one object, in build order.
func findingsAbout(findings []model.Finding, kind, namespace, name string) []model.Finding {
	var out []model.Finding
	for _, f := range findings {
		if f.Object.Kind == kind && f.Object.Namespace == namespace && f.Object.Name == name {
			out = append(out, f)
		}
	}
	return out
}

// orNil makes no findings nil, as findingsAbout gives them.
func orNil(f []model.Finding) []model.Finding {
	if len(f) == 0 {
		return nil
	}
	return f
}

// requireReviewsEqualWhole reviews every Ingress and ConfigMap of snap
// against the snapshot without it (as a new object) and against snap (as
// an update), and requires the findings a whole build of snap reports
// about it.
func requireReviewsEqualWhole(t *testing.T, what string, snap *snapshot.Snapshot, opts model.Options) {
	t.Helper()
	_, whole := model.Build(snap, opts)
	asUpdate := model.NewReview(snap, opts)
	for i, ing := range snap.Ingresses {
		want := findingsAbout(whole, "Ingress", ing.Namespace, ing.Name)
		require.Equal(t, want, orNil(asUpdate.Ingress(ing, opts)), "%s: update of %s/%s", what, ing.Namespace, ing.Name)
		without := *snap
		without.Ingresses = slices.Delete(slices.Clone(snap.Ingresses), i, i+1)
		asNew := model.NewReview(&without, opts)
		require.Equal(t, want, orNil(asNew.Ingress(ing, opts)), "%s: creation of %s/%s", what, ing.Namespace, ing.Name)
	}
	for _, cm := range snap.ConfigMaps {
		want := findingsAbout(whole, "ConfigMap", cm.Namespace, cm.Name)
		require.Equal(t, want, orNil(asUpdate.ConfigMap(cm, opts)), "%s: ConfigMap %s/%s", what, cm.Namespace, cm.Name)
	}
}

// TestReviewEqualsWhole keeps reviews exact: what a review finds about an
// object is what a whole build finds about it, on every fixture (those
// with Ingresses reaching across hosts included) and after random
// changes.
func TestReviewEqualsWhole(t *testing.T) {
	for _, c := range unitCases(t) {
		t.Run(c.name, func(t *testing.T) {
			requireReviewsEqualWhole(t, "fixture", c.snap, c.opts)
			rng := rand.New(rand.NewPCG(2, uint64(len(c.name))))
			snap := c.snap
			for step := range 10 {
				var what string
				snap, what = randomChange(rng, snap, step)
				requireReviewsEqualWhole(t, fmt.Sprintf("step %d: %s", step, what), snap, c.opts)
			}
		})
	}
}

// TestReviewBuildsOnlyRelated shows why a review is cheap: it builds the
// Ingresses that share a name with the one under review, not the others.
func TestReviewBuildsOnlyRelated(t *testing.T) {
	mk := func(name, host string, annotations map[string]string) *networkingv1.Ingress {
		ing := &networkingv1.Ingress{}
		ing.Namespace, ing.Name, ing.Annotations = "shop", name, annotations
		class := model.DefaultIngressClass
		ing.Spec.IngressClassName = &class
		ing.Spec.Rules = []networkingv1.IngressRule{{Host: host}}
		return ing
	}
	snap := &snapshot.Snapshot{
		IngressClasses: []*networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: model.DefaultIngressClass}, Spec: networkingv1.IngressClassSpec{Controller: model.DefaultControllerClass}}},
		Ingresses: []*networkingv1.Ingress{
			mk("a", "a.example.com", nil),
			mk("b", "b.example.com", nil),
			mk("alias", "c.example.com", map[string]string{"nginx.ingress.kubernetes.io/server-alias": "A.example.com"}),
			mk("hostless", "", nil),
		},
		ConfigMaps: []*corev1.ConfigMap{},
	}
	r := model.NewReview(snap, testOptions())
	names := func(list []*networkingv1.Ingress) []string {
		var out []string
		for _, ing := range list {
			out = append(out, ing.Name)
		}
		slices.Sort(out)
		return out
	}
	assert.Equal(t, []string{"b"}, names(model.RelatedForTest(r, snap.Ingresses[1])))
	assert.Equal(t, []string{"a", "alias", "hostless"}, names(model.RelatedForTest(r, snap.Ingresses[0])),
		"an alias naming a's host, and every Ingress reaching across hosts with it")
	edited := mk("b", "a.example.com", nil)
	assert.Equal(t, []string{"a", "alias", "b", "hostless"}, names(model.RelatedForTest(r, edited)),
		"the edited version's names count, not the snapshot's")
}
