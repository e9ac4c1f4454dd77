-- log_by_lua (locations whose balancing needs it): feed response times to
-- ewma, end least_conn's count, and count the request for the request
-- metrics (a location's hook replaces the http level's hooks/metrics.lua).
require("portico.balancer").log()
require("portico.request_log").log()
