-- init_by_lua: load the balancer in the master, so a syntax error fails
-- nginx -t and workers share the compiled code; and when nginx starts
-- with nothing in the shared dict (not on a reload), seed it with the
-- controller's copy of its last push (RUNTIME-DIR/internal/balancer.json,
-- nginx's prefix being the runtime directory), so a restarted nginx routes
-- from its first request.
require("portico.balancer").seed(ngx.config.prefix() .. "internal/balancer.json")
