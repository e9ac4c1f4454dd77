-- The nginx side of the request metrics (portico/metrics.lua holds the
-- logic): one aggregator per worker, fed by the log phase, flushed by a
-- timer, and the internal server's handler that dumps the dict.

local metrics = require("portico.metrics")

local ngx = ngx
local ngx_var = ngx.var
local ngx_now = ngx.now
local req_start = ngx.req.start_time
local get_method = ngx.req.get_method
local tonumber = tonumber
local upstream_time = metrics.upstream_time
local clean_host = metrics.clean_host
local byte = string.byte
local STAR, TILDE = byte("*"), byte("~")

local _M = {}

-- The worker's aggregator and host mode; nil while metrics are off (no
-- PORTICO_METRICS in nginx.conf) or their configuration is unusable.
local worker, host_mode
-- Which nginx variables the recorded histograms need: each read costs
-- 50-150 ns (the upstream times are formatted for every read), so
-- histograms left out with --exclude-socket-metrics are not paid for.
local want = {}

local function log_error(...)
    ngx.log(ngx.ERR, ...)
end

-- start runs in init_worker: it reads the configuration nginx.conf's env
-- directive gave the worker and starts the flush timer. A worker that
-- exits flushes once more (the timer's premature run).
function _M.start()
    local raw = os.getenv("PORTICO_METRICS")
    if not raw or raw == "" then
        return
    end
    local shared = ngx.shared.portico_metrics
    if not shared then
        log_error("portico: PORTICO_METRICS is set but nginx.conf has no lua_shared_dict portico_metrics; no request metrics")
        return
    end
    local cfg, err = metrics.parse_config(raw)
    if not cfg then
        log_error("portico: PORTICO_METRICS: ", err, "; no request metrics")
        return
    end
    local w = metrics.new(cfg, { shared = shared, log = log_error })
    if ngx.worker.id() == 0 then
        w:reset_if_other_layout()
    end
    local ok, terr = ngx.timer.every(1, function()
        w:flush()
    end)
    if not ok then
        log_error("portico: request metrics timer: ", terr, "; no request metrics")
        return
    end
    worker, host_mode = w, cfg.host
    local e = cfg.enabled
    want = {
        response = e.response_duration, connect = e.connect_duration, header = e.header_duration,
        request_length = e.request_size, bytes_sent = e.response_size or e.bytes_sent,
    }
end

-- log adds the request (log phase). Labels of the location come from its
-- route; only the request's own figures are read here.
function _M.log()
    local w = worker
    if not w then
        return
    end
    local route = ngx_var.portico_route or ""
    local host = ""
    if host_mode ~= "none" then
        -- The default server's "_" means no Ingress names the host; a
        -- wildcard or regex name is the Ingress's host as written; an
        -- exact name is the request's host, one of the block's names
        -- (blocks of one shape share a server, see pkg/render/share.go).
        local name = ngx_var.server_name or ""
        local first = byte(name, 1)
        if name == "_" then
            host = host_mode == "any" and clean_host(ngx_var.host) or ""
        elseif first == STAR or first == TILDE then
            host = name
        else
            host = ngx_var.host or ""
        end
    end
    local status = ngx.status
    if not status or status == 0 then
        status = tonumber(ngx_var.status) or 0
    end
    local canary, response, connect, header = "", nil, nil, nil
    local wanted = want
    if route ~= "" then
        canary = ngx.ctx.portico_canary or ""
        if wanted.response then
            response = upstream_time(ngx_var.upstream_response_time)
        end
        if wanted.connect then
            connect = upstream_time(ngx_var.upstream_connect_time)
        end
        if wanted.header then
            header = upstream_time(ngx_var.upstream_header_time)
        end
    end
    local request_length, bytes_sent
    if wanted.request_length then
        request_length = tonumber(ngx_var.request_length)
    end
    if wanted.bytes_sent then
        bytes_sent = tonumber(ngx_var.bytes_sent)
    end
    w:observe(route, status, get_method(), host, canary,
        ngx_now() - req_start(), response, connect, header, request_length, bytes_sent)
end

-- serve is the internal server's handler: GET dumps the dict, POST deletes
-- the figures of the routes in the body (one per line).
function _M.serve()
    local shared = ngx.shared.portico_metrics
    if not shared then
        ngx.status = 404
        ngx.say("request metrics are off")
        return
    end
    local method = ngx.req.get_method()
    if method == "GET" then
        ngx.print(metrics.dump(shared))
        return
    end
    if method ~= "POST" then
        return ngx.exit(405)
    end
    ngx.req.read_body()
    local body = ngx.req.get_body_data() or ""
    local routes = {}
    for r in body:gmatch("[^\n]+") do
        routes[r] = true
    end
    ngx.say(metrics.forget(shared, routes))
end

return _M
