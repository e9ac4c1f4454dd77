-- balancer_by_lua: pick the endpoint for this attempt.
require("portico.balancer").balance()
