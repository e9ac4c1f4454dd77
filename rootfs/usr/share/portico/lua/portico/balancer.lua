-- Portico's Lua balancer. nginx.conf has one shared upstream whose peer is
-- chosen here, per request, from backend lists the controller pushes to the
-- internal (loopback) server. Endpoint and traffic-policy changes therefore
-- need no reload: the controller pushes, every worker notices the new
-- version on its next request and rebuilds its tables.
--
-- This module only wires the pieces to nginx's phases (hooks/*.lua call
-- it); each piece is a module of its own under portico/balancer/, with its
-- specs in spec/ (run without nginx: make lua-test):
--   store        the pushed document (check, shared dict, each worker's view)
--   pool         one backend's endpoints as the algorithms read them
--   round_robin, least_conn, ewma, chash   the algorithms: new(deps), then
--                algo:pick(pool, exclude, key) -> endpoint
--   affinity     cookie sessions, persistent and balanced
--   canary       the header, cookie and weight decision
-- The modules get what they use of nginx (ngx.var, ngx.now, ngx.md5, ...)
-- here, once per worker, so that they can be tested without it and the
-- request path creates no closure or table of its own.

local ngx_balancer = require("ngx.balancer")
local cjson = require("cjson.safe")
local document = require("portico.document")
local store_module = require("portico.balancer.store")
local round_robin = require("portico.balancer.round_robin")
local least_conn = require("portico.balancer.least_conn")
local ewma = require("portico.balancer.ewma")
local chash = require("portico.balancer.chash")
local affinity = require("portico.balancer.affinity")
local canary = require("portico.balancer.canary")
local ratelog = require("portico.ratelog")

local ngx = ngx
local ngx_var = ngx.var
local math_random = math.random
local tonumber = tonumber
local string_match = string.match

local _M = {}

local rr = round_robin.new()
local lc = least_conn.new()
local ew = ewma.new({ now = ngx.now, random = math_random })
local hash = chash.new({ md5_bin = ngx.md5_bin, var = ngx_var })
local canaries = canary.new({ var = ngx_var, re_find = ngx.re.find, random = math_random })

-- The methods of the request path, cached as locals: a call through the
-- instance looks the name up in it and then in its metatable.
local hash_pick, hash_key = hash.pick, hash.key
local rr_pick = rr.pick
local canary_use = canaries.use
local lc_acquire, lc_release = lc.acquire, lc.release
local ew_observe = ew.observe

-- pick_policy picks with the route's own policy: the hash ring when it has
-- upstream-hash-by, else its load-balance algorithm.
local function pick_policy(route, pool, exclude)
    local names = route.hash_vars
    if names then
        return hash_pick(hash, pool, exclude, hash_key(hash, names))
    end
    return route.algorithm:pick(pool, exclude)
end

local sessions = affinity.new({
    chash = hash,
    policy = pick_policy,
    md5 = ngx.md5,
    now = ngx.now,
    random = math_random,
    var = ngx_var,
    time = ngx.time,
    cookie_time = ngx.cookie_time,
})

local store = store_module.new({
    shared = ngx.shared.portico,
    decode = cjson.decode,
    check = document.decode,
    md5 = ngx.md5,
    random = math_random,
    var = ngx_var,
    algorithms = { round_robin = rr, least_conn = lc, ewma = ew },
    log = function(...)
        ngx.log(ngx.ERR, ...)
    end,
})
local store_route = store.route

-- Requests without a route or endpoint warn once per message per 10 s in
-- each worker, with a count (portico/ratelog.lua): a restarted nginx
-- without data, or a Service without endpoints, gets one request after
-- another, and one line each drowned the log.
local warnings = ratelog.new({
    now = ngx.now,
    period = 10,
    log = function(...)
        ngx.log(ngx.WARN, "portico: ", ...)
    end,
})
local warn = warnings.warn
local sessions_pick = sessions.pick

-- choose picks the backend of the request's route ($portico_route): the
-- route's Service, its canary's, or its default backend's while the Service
-- has no ready endpoints. It keeps the choice in ctx for the balancer's
-- attempts and the other hooks and returns true; or it returns false and
-- why there is nothing to send the request to, or nil when the location has
-- no route.
local function choose(ctx)
    local id = ngx_var.portico_route
    if not id or id == "" then
        return nil
    end
    local route, backends = store_route(store, id)
    if not route then
        return false, "no route " .. id .. " in the dynamic configuration yet"
    end
    local backend, alternate, canary_name = backends[route.backend], false, nil
    local spec = route.canary
    if spec then
        local alt = backends[spec.backend]
        if alt and #alt.endpoints > 0 and canary_use(canaries, spec) then
            backend, alternate, canary_name = alt, true, spec.backend
        end
    end
    if (not backend or #backend.endpoints == 0) and route.fallback then
        -- default-backend: it answers while the Service has no endpoints.
        backend, alternate = backends[route.fallback], true
    end
    if not backend or #backend.endpoints == 0 then
        return false, "no ready endpoints for " .. route.backend
    end
    ctx.portico_route_data, ctx.portico_backend, ctx.portico_alternate = route, backend, alternate
    -- The canary label of the request metrics (portico/request_log.lua).
    ctx.portico_canary = canary_name
    return true
end

-- rewrite runs at the end of the rewrite phase of the locations whose
-- backend speaks gRPC or TLS (the template adds it there only): it chooses
-- the backend and answers 503 itself when there is none. Every other
-- location chooses in the balancer phase, which saves the coroutine a
-- rewrite_by_lua hook costs each request.
function _M.rewrite()
    -- Subrequests (auth_request) share the parent's variables but proxy
    -- elsewhere; only the main request is balanced.
    if ngx.is_subrequest then
        return
    end
    local chosen, why = choose(ngx.ctx)
    if chosen == false then
        warn(warnings, why)
        return ngx.exit(503)
    end
end

-- unavailable sends the attempt to the loopback server that answers 503
-- ($portico_unavailable, "host:port"): the balancer phase cannot answer by
-- itself, nginx would turn any error here into a 500 or 502.
local unavailable_host, unavailable_port
local function unavailable(why)
    warn(warnings, why)
    if not unavailable_host then
        -- Parsed once per worker: a worker runs one config, and a reload
        -- starts new workers.
        local host, port = string_match(ngx_var.portico_unavailable or "", "^(.+):(%d+)$")
        unavailable_host, unavailable_port = host, tonumber(port)
    end
    local ok, err = false, "no usable $portico_unavailable"
    if unavailable_host then
        ok, err = ngx_balancer.set_current_peer(unavailable_host, unavailable_port)
    end
    if not ok then
        ngx.log(ngx.ERR, "portico: cannot reach the 503 server ", ngx_var.portico_unavailable, ": ", err)
        return ngx.exit(ngx.ERROR)
    end
end

-- balance runs in balancer_by_lua: once per attempt, again on every retry
-- that proxy_next_upstream allows, never choosing the peer that just failed.
-- The first attempt chooses the backend unless the location's rewrite hook
-- did; retries keep that choice.
function _M.balance()
    local ctx = ngx.ctx
    local route, backend = ctx.portico_route_data, ctx.portico_backend
    if not route then
        local chosen, why = choose(ctx)
        if chosen == nil then
            -- A location that proxies to the balancer without a route: the
            -- template never writes one, so this is a custom template's bug.
            ngx.log(ngx.ERR, "portico: balancer reached without $portico_route")
            return ngx.exit(ngx.ERROR)
        elseif not chosen then
            return unavailable(why)
        end
        route, backend = ctx.portico_route_data, ctx.portico_backend
    end
    local exclude = ctx.portico_peer and ctx.portico_peer.addr
    local ep
    if ctx.portico_alternate then
        -- The canary's or the default backend's pool: the route's policy
        -- (hash keys, affinity cookies) belongs to the main Service.
        ep = rr_pick(rr, backend, exclude)
    elseif route.affinity then
        local cookie
        ep, cookie = sessions_pick(sessions, route, backend, exclude, ngx_var[route.affinity.cookie_var])
        if cookie then
            ctx.portico_cookie = cookie
        end
    else
        ep = pick_policy(route, backend, exclude)
    end
    ctx.portico_peer = ep
    if route.algorithm == lc then
        -- Counted per request, whatever picked the endpoint: a retry moves
        -- the count, the log phase ends it.
        local counted = ctx.portico_counted
        if counted then
            lc_release(lc, counted)
        end
        lc_acquire(lc, ep.addr)
        ctx.portico_counted = ep.addr
    end
    -- One more try per attempt: proxy_next_upstream_tries stays the limit.
    ngx_balancer.set_more_tries(1)
    local ok, err = ngx_balancer.set_current_peer(ep.host, ep.port)
    if not ok then
        ngx.log(ngx.ERR, "portico: cannot use peer ", ep.addr, ": ", err)
        return ngx.exit(ngx.ERROR)
    end
end

-- header_filter adds the affinity cookie after the backend's own headers.
function _M.header_filter()
    local cookie = ngx.ctx.portico_cookie
    if not cookie then
        return
    end
    ngx.header["Set-Cookie"] = affinity.add_set_cookie(ngx.header["Set-Cookie"], cookie)
end

-- log feeds ewma with the time the endpoint took to answer, and ends the
-- request's count for least_conn.
function _M.log()
    local ctx = ngx.ctx
    local counted = ctx.portico_counted
    if counted then
        lc_release(lc, counted)
    end
    local route = ctx.portico_route_data
    if not route or route.algorithm ~= ew then
        return
    end
    local ep = ctx.portico_peer
    local rtt = tonumber(ngx_var.upstream_header_time)
    if not ep or not rtt then
        return
    end
    ew_observe(ew, ep.addr, rtt)
end

-- configure is the internal server's POST handler: the store checks the
-- whole document (portico.document) and only then keeps it for every
-- worker, so a bad push changes nothing. GET answers the md5 of what is
-- stored, so the controller can tell whether nginx (perhaps restarted)
-- holds its latest push.
function _M.configure()
    local method = ngx.req.get_method()
    if method == "GET" then
        ngx.say(store:stored_md5())
        return
    end
    if method ~= "POST" then
        return ngx.exit(405)
    end
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if not body then
        local path = ngx.req.get_body_file()
        if path then
            local f = io.open(path, "rb")
            if f then
                body = f:read("*a")
                f:close()
            end
        end
    end
    local md5, status, err = store:push(body)
    if not md5 then
        ngx.status = status
        if status == 400 then
            ngx.log(ngx.ERR, "portico: balancer data refused: ", err)
            ngx.say("refused: ", err)
        else
            ngx.say("storing the configuration failed: ", err)
        end
        return
    end
    ngx.say(md5)
end

-- seed runs in init_by_lua, in the master before it starts workers: when
-- the shared dict holds nothing (a fresh or restarted nginx, not a
-- reload), it stores the document the controller pushed last, which it
-- keeps in path. A restarted nginx then routes from its first request
-- instead of answering 503 until the controller pushes again; the store
-- uses a seeded document only for the config generation it was pushed for
-- and asks the controller for a push all the same (portico/balancer/store.lua).
-- A missing or unreadable file seeds nothing.
function _M.seed(path)
    local f = io.open(path, "rb")
    if not f then
        return false
    end
    local body = f:read("*a")
    f:close()
    local md5, err = store:seed(body)
    if not md5 then
        if err then
            ngx.log(ngx.WARN, "portico: balancer data of ", path, " not used: ", err)
        end
        return false
    end
    return true
end

-- The worker's instances, for the specs (spec/balancer_spec.lua).
_M._internal = { store = store, least_conn = lc, ewma = ew }

return _M
