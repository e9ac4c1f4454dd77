package model

import (
	"cmp"
	"slices"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/portico-ingress/portico/pkg/annotations"
)

// cors makes the render-ready CORS policy, with an origin map when several
// origins are allowed (its variable name comes from a hash).
func (b *builder) cors(ing *networkingv1.Ingress, c annotations.CORS) *LocationCORS {
	if !c.Enabled {
		return nil
	}
	out := &LocationCORS{
		AllowOrigin:      "*",
		AllowMethods:     cmp.Or(c.AllowMethods, annotations.DefaultCORSMethods),
		AllowHeaders:     cmp.Or(c.AllowHeaders, annotations.DefaultCORSHeaders),
		ExposeHeaders:    c.ExposeHeaders,
		AllowCredentials: c.AllowCredentials != "false",
		MaxAge:           cmp.Or(c.MaxAge, annotations.DefaultCORSMaxAge),
	}
	switch {
	case len(c.AllowOrigins) == 1:
		out.AllowOrigin = c.AllowOrigins[0]
	case len(c.AllowOrigins) > 1 && !slices.Contains(c.AllowOrigins, "*"):
		m := OriginMap{Variable: "$portico_cors_" + hashID(ing), Origins: c.AllowOrigins}
		b.originMaps[m.Variable] = m
		out.AllowOrigin = m.Variable
	}
	return out
}
