package model

import networkingv1 "k8s.io/api/networking/v1"

// RelatedForTest exposes Review.related.
func RelatedForTest(r *Review, ing *networkingv1.Ingress) []*networkingv1.Ingress {
	return r.related(ing)
}
