-- set_by_lua (locations whose sign-in or redirect URL names
-- $escaped_request_uri): the request URI percent-encoded as a URI component
-- (all but letters, digits and -._~), like ingress-nginx's set_escape_uri.
return ngx.escape_uri(ngx.var.request_uri)
