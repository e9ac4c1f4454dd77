-- rewrite_by_lua (locations whose backend speaks gRPC or TLS): pick the
-- route's backend, or answer 503.
require("portico.balancer").rewrite()
