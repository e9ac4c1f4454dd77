-- init_by_lua: load the balancer in the master, so a syntax error fails
-- nginx -t and workers share the compiled code.
require("portico.balancer")
