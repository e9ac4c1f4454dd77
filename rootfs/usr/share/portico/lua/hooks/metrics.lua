-- log_by_lua (http level, with request metrics on): count the request.
-- Locations with their own log hook (hooks/log.lua) count it there.
require("portico.request_log").log()
