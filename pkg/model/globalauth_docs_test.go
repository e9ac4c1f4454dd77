package model_test

// globalAuthDoc is the section of docs/configmap.md on global external auth.
const globalAuthDoc = `
## Global external auth

The ` + "`global-auth-*`" + ` keys are ingress-nginx's global external authentication: with
` + "`global-auth-url`" + ` set, every path of every Ingress that has no ` + "`auth-url`" + ` of its own asks that
service first, as ` + "`auth-url`" + ` would (one internal location per host). Each ` + "`global-auth-X`" + ` value is
checked exactly as the annotation ` + "`auth-X`" + ` is (the same allowlist; the auth service may not be the
controller's own Pod, loopback only with ` + "`--allow-loopback-backends`" + `); an empty value counts as
unset. The keys are one control and are accepted or refused together: a bad value, a misspelt
` + "`global-auth-*`" + ` key or one marked "not implemented yet" above refuses the whole global auth, with a
Warning on the ConfigMap, and the global auth last accepted keeps applying. When none was accepted
before (a first start), the paths that would use it answer 503 and their Ingresses get a
` + "`GlobalAuthUnavailable`" + ` Warning: a global auth that cannot be honoured never fails open.

With ` + "`global-auth-cache-key`" + `, the global auth's answers are cached per host and key, shared
by every Ingress on that host that uses the global auth (one auth service, as in ingress-nginx):
put into the key whatever the answer depends on (the session cookie, and ` + "`$request_uri`" + ` if
the service decides by path). An Ingress's own ` + "`auth-cache-key`" + ` entries are its alone.

Locations whose path starts with one of ` + "`no-auth-locations`" + ` (by default
` + "`/.well-known/acme-challenge`" + `, as in ingress-nginx) skip the global auth, so that cert-manager's
HTTP-01 solver Ingresses answer the ACME server; an Ingress all of whose paths are such is served
even while the global auth is refused. A regex path is never exempt.

An Ingress opts out with the annotation ` + "`nginx.ingress.kubernetes.io/enable-global-auth: \"false\"`" + `,
as in ingress-nginx. Any namespace may do so for its own Ingresses (and only for them), so global
auth is a convenience, not a tenant boundary: backends that must never be reached without
authentication need their own ` + "`auth-url`" + ` or a check of their own (docs/security.md).
The ` + "`global-auth-*`" + ` names are never annotations: an Ingress carrying one is not served.
`
