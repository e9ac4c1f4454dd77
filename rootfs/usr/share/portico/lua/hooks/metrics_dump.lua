-- content_by_lua of the internal server's /portico/metrics: the request
-- figures for the controller (GET), or deleting those of removed routes (POST).
require("portico.request_log").serve()
