-- rewrite_by_lua (http level): pick the route's backend, or answer 503.
require("portico.balancer").rewrite()
