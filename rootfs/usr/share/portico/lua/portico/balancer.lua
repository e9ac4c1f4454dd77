-- Portico's Lua balancer. nginx.conf has one shared upstream whose peer is
-- chosen here, per request, from backend lists the controller pushes to the
-- internal (loopback) server. Endpoint and traffic-policy changes therefore
-- need no reload: the controller pushes, every worker notices the new
-- version on its next request and rebuilds its tables.
--
-- The pushed document (JSON) is
--   { "backends": { NAME: ["10.0.0.1:8080", "[fd00::1]:80", ...] },
--     "routes":   { ID: { "backend": NAME, "balance": "round_robin"|"ewma",
--                         "hashBy": "$request_uri",
--                         "affinity": { "mode", "name", "path", "domain",
--                                       "maxAge", "expires", "secure",
--                                       "sameSite", "changeOnFailure" },
--                         "canary": { "backend", "weight", "weightTotal",
--                                     "header", "headerValue",
--                                     "headerPattern", "cookie" },
--                         "fallback": NAME } },
--     "generation": "7",
--     "previous":  { "generation": "6", "routes": { ... } } }
-- Each location of nginx.conf sets $portico_route to its route ID, and the
-- http block maps $portico_generation to the config's generation; during a
-- reload "previous" holds the routes of the config old workers still run.

local ngx_balancer = require("ngx.balancer")
local cjson = require("cjson.safe")
local document = require("portico.document")

local ngx = ngx
local ngx_var = ngx.var
local shared = ngx.shared.portico
local md5_bin = ngx.md5_bin
local string_byte = string.byte
local math_random = math.random
local math_exp = math.exp
local tonumber = tonumber
local pairs = pairs
local ipairs = ipairs
local type = type

local _M = {}

-- Worker-local view of the pushed document, rebuilt when its version moves.
local state = { version = nil, routes = {}, backends = {} }

-- Smoothed response times per endpoint for ewma, kept across refreshes so
-- a push does not forget what the worker learned.
local ewma = {}
local EWMA_DECAY_SECONDS = 10

-- Requests in flight per endpoint for least_conn, counted by this worker.
local inflight = {}

-- Virtual nodes per endpoint on the consistent-hash ring: enough that
-- each of three endpoints owns a third of the keyspace give or take a few
-- percent.
local RING_POINTS = 160

-- hash32 places ring points and keys: the first 32 bits of their md5.
-- Not CRC32: it is linear, so the labels "addr#1" to "addr#160" of
-- neighbouring addresses and keys like user-1, user-2 land in correlated
-- places; three loopback endpoints owned from 14 % to 62 % of the ring,
-- and 16 of 20 such keys often went to one of them.
local function hash32(s)
    local b1, b2, b3, b4 = string_byte(md5_bin(s), 1, 4)
    return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
end

local function parse_endpoint(text)
    local host, port = text:match("^%[(.+)%]:(%d+)$")
    if not host then
        host, port = text:match("^([^:]+):(%d+)$")
    end
    if not host then
        return nil
    end
    return { addr = text, host = host, port = tonumber(port), id = ngx.md5(text):sub(1, 16) }
end

local function new_backend(list)
    local endpoints, by_id = {}, {}
    for _, text in ipairs(list) do
        local ep = parse_endpoint(text)
        if ep then
            endpoints[#endpoints + 1] = ep
            by_id[ep.id] = ep
        end
    end
    -- Start each worker's round robin at a different place, so that N
    -- workers do not send their first requests to the same endpoint.
    local next_index = 1
    if #endpoints > 0 then
        next_index = math_random(#endpoints)
    end
    return { endpoints = endpoints, by_id = by_id, next_index = next_index }
end

-- "$request_uri$cookie_user" -> { "request_uri", "cookie_user" }; the
-- controller allowlists this to nginx variable names only.
local function compile_hash_by(expr)
    local names = {}
    for name in expr:gmatch("%$([%w_]+)") do
        names[#names + 1] = name
    end
    return names
end

local function header_var(name)
    return "http_" .. name:lower():gsub("-", "_")
end

local function compile_route(route)
    if type(route.hashBy) == "string" and route.hashBy ~= "" then
        route.hash_vars = compile_hash_by(route.hashBy)
    end
    local canary = route.canary
    if type(canary) == "table" then
        if type(canary.header) == "string" and canary.header ~= "" then
            canary.header_var = header_var(canary.header)
        end
        if type(canary.cookie) == "string" and canary.cookie ~= "" then
            canary.cookie_var = "cookie_" .. canary.cookie
        end
        canary.weight = tonumber(canary.weight) or 0
        canary.weightTotal = tonumber(canary.weightTotal) or 100
        if canary.weightTotal < 1 then
            canary.weightTotal = 100
        end
    end
    local affinity = route.affinity
    if type(affinity) == "table" then
        affinity.cookie_var = "cookie_" .. affinity.name
    end
    return route
end

local function compile_routes(list)
    local routes = {}
    if type(list) == "table" then
        for id, route in pairs(list) do
            if type(route) == "table" and type(route.backend) == "string" then
                routes[id] = compile_route(route)
            end
        end
    end
    return routes
end

local function refresh()
    local version = shared:get("version")
    if version == state.version then
        return
    end
    local body = shared:get("config")
    local doc, err = nil, "no configuration pushed yet"
    if body then
        doc, err = cjson.decode(body)
    end
    if type(doc) ~= "table" then
        ngx.log(ngx.ERR, "portico: dynamic configuration unusable: ", err)
        state = { version = version, routes = {}, backends = {} }
        return
    end
    local backends = {}
    if type(doc.backends) == "table" then
        for name, list in pairs(doc.backends) do
            if type(list) == "table" then
                backends[name] = new_backend(list)
            end
        end
    end
    -- During a reload the document holds the routes of both configs, each
    -- under its generation: old workers keep routing as their config says
    -- until they stop, new workers route as theirs does.
    local previous = type(doc.previous) == "table" and doc.previous or {}
    state = {
        version = version,
        backends = backends,
        routes = compile_routes(doc.routes),
        previous_generation = previous.generation,
        previous_routes = compile_routes(previous.routes),
    }
end

-- routes_for returns the routes of the config generation this worker runs.
-- Only during a reload (previous routes pushed) does that depend on the
-- worker, so $portico_generation is read only then.
local function routes_for()
    local previous = state.previous_generation
    if previous and ngx_var.portico_generation == previous then
        return state.previous_routes
    end
    return state.routes
end

local function round_robin(backend, exclude)
    local endpoints = backend.endpoints
    local n = #endpoints
    for _ = 1, n do
        local i = backend.next_index
        backend.next_index = i % n + 1
        local ep = endpoints[i]
        if ep.addr ~= exclude then
            return ep
        end
    end
    return endpoints[1]
end

-- The endpoint with the fewest requests in flight; scanning from the round
-- robin position makes ties rotate instead of piling on the first.
local function pick_least_conn(backend, exclude)
    local endpoints = backend.endpoints
    local n = #endpoints
    local start = backend.next_index
    backend.next_index = start % n + 1
    local best, best_count
    for k = 0, n - 1 do
        local ep = endpoints[(start - 1 + k) % n + 1]
        if ep.addr ~= exclude then
            local count = inflight[ep.addr] or 0
            if not best or count < best_count then
                best, best_count = ep, count
            end
        end
    end
    return best or endpoints[1]
end

local function ewma_score(addr, now)
    local s = ewma[addr]
    if not s then
        return 0
    end
    return s.value * math_exp(-(now - s.time) / EWMA_DECAY_SECONDS)
end

-- Power of two choices over the smoothed response time: cheap, and it
-- keeps new or recovered endpoints in rotation.
local function pick_ewma(backend, exclude)
    local endpoints = backend.endpoints
    local n = #endpoints
    if n == 1 then
        return endpoints[1]
    end
    local a = endpoints[math_random(n)]
    local b = endpoints[math_random(n)]
    if a == b then
        b = endpoints[(a == endpoints[n]) and 1 or n]
    end
    if a.addr == exclude then
        return b
    end
    if b.addr == exclude then
        return a
    end
    local now = ngx.now()
    if ewma_score(b.addr, now) < ewma_score(a.addr, now) then
        return b
    end
    return a
end

local function ring(backend)
    if backend.ring then
        return backend.ring
    end
    local points = {}
    for _, ep in ipairs(backend.endpoints) do
        for i = 1, RING_POINTS do
            points[#points + 1] = { hash32(ep.addr .. "#" .. i), ep }
        end
    end
    table.sort(points, function(x, y)
        if x[1] == y[1] then
            return x[2].addr < y[2].addr
        end
        return x[1] < y[1]
    end)
    backend.ring = points
    return points
end

-- The first ring point at or after hash(key), wrapping around; with
-- exclude set, the next point owned by another endpoint.
local function pick_hash(backend, key, exclude)
    local points = ring(backend)
    local n = #points
    local h = hash32(key)
    local lo, hi = 1, n
    while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if points[mid][1] < h then
            lo = mid + 1
        else
            hi = mid
        end
    end
    if points[lo][1] < h then
        lo = 1
    end
    for step = 0, n - 1 do
        local ep = points[(lo - 1 + step) % n + 1][2]
        if ep.addr ~= exclude then
            return ep
        end
    end
    return points[lo][2]
end

local function hash_key(route)
    local parts = {}
    for i, name in ipairs(route.hash_vars) do
        parts[i] = ngx_var[name] or ""
    end
    return table.concat(parts)
end

local function pick_policy(route, backend, exclude)
    if route.hash_vars then
        return pick_hash(backend, hash_key(route), exclude)
    end
    if route.balance == "ewma" then
        return pick_ewma(backend, exclude)
    end
    if route.balance == "least_conn" then
        return pick_least_conn(backend, exclude)
    end
    return round_robin(backend, exclude)
end

local function cookie_header(affinity, value)
    local parts = { affinity.name .. "=" .. value }
    if affinity.path and affinity.path ~= "" then
        parts[#parts + 1] = "Path=" .. affinity.path
    end
    if affinity.domain and affinity.domain ~= "" then
        parts[#parts + 1] = "Domain=" .. affinity.domain
    end
    local max_age = tonumber(affinity.maxAge) or 0
    if max_age > 0 then
        parts[#parts + 1] = "Max-Age=" .. max_age
    end
    local expires = tonumber(affinity.expires) or 0
    if expires > 0 then
        parts[#parts + 1] = "Expires=" .. ngx.cookie_time(ngx.time() + expires)
    end
    if affinity.secure then
        parts[#parts + 1] = "Secure"
    end
    if affinity.sameSite and affinity.sameSite ~= "" then
        parts[#parts + 1] = "SameSite=" .. affinity.sameSite
    end
    parts[#parts + 1] = "HttpOnly"
    return table.concat(parts, "; ")
end

-- new_session draws a random key for a new balanced session whose own
-- endpoint on the ring is not exclude (the peer that just failed), so the
-- cookie leads straight to the endpoint this attempt uses: a key that only
-- reached it by skipping the failed peer would send every later request of
-- the session to the failed peer first. Each draw misses with the failed
-- peer's share of the ring; after 20 misses (it owns nearly all of it) the
-- attempt still skips it.
local function new_session(backend, exclude)
    local key, ep
    for _ = 1, 20 do
        key = ngx.md5(ngx_var.request_id .. ngx.now() .. math_random())
        ep = pick_hash(backend, key, nil)
        if ep.addr ~= exclude then
            return key, ep
        end
    end
    return key, pick_hash(backend, key, exclude)
end

-- Session affinity. persistent: the cookie names an endpoint, which keeps
-- the session as long as it exists. balanced: the cookie holds a random
-- key placed on the consistent-hash ring, so scaling moves only the
-- sessions whose part of the ring changed owner. A client without a valid
-- session gets one on the endpoint its attempt uses, again on a retry (so
-- the cookie never names the peer that failed); a valid session moves to
-- the retry's endpoint only with change-on-failure.
local function pick_affinity(route, backend, exclude, ctx)
    local affinity = route.affinity
    local cookie = ngx_var[affinity.cookie_var]
    if affinity.mode == "persistent" then
        local pinned = cookie and backend.by_id[cookie]
        if pinned and pinned.addr ~= exclude then
            return pinned
        end
        local ep = pick_policy(route, backend, exclude)
        if not pinned or affinity.changeOnFailure then
            ctx.portico_cookie = cookie_header(affinity, ep.id)
        end
        return ep
    end
    local valid = cookie and #cookie == 32
    if valid and not (exclude and affinity.changeOnFailure) then
        return pick_hash(backend, cookie, exclude)
    end
    local key, ep = new_session(backend, exclude)
    ctx.portico_cookie = cookie_header(affinity, key)
    return ep
end

-- Canary decision, in ingress-nginx's order: header, then cookie, then weight.
local function use_canary(canary)
    if canary.header_var then
        local value = ngx_var[canary.header_var]
        if value then
            if canary.headerValue and canary.headerValue ~= "" then
                if value == canary.headerValue then
                    return true
                end
            elseif canary.headerPattern and canary.headerPattern ~= "" then
                local m = ngx.re.find(value, canary.headerPattern, "jo")
                if m then
                    return true
                end
            elseif value == "always" then
                return true
            elseif value == "never" then
                return false
            end
        end
    end
    if canary.cookie_var then
        local value = ngx_var[canary.cookie_var]
        if value == "always" then
            return true
        elseif value == "never" then
            return false
        end
    end
    if canary.weight <= 0 then
        return false
    end
    return math_random(canary.weightTotal) <= canary.weight
end

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
    refresh()
    local route = routes_for()[id]
    if not route then
        return false, "no route " .. id .. " in the dynamic configuration yet"
    end
    local backend, alternate = state.backends[route.backend], false
    local canary = route.canary
    if canary then
        local alt = state.backends[canary.backend]
        if alt and #alt.endpoints > 0 and use_canary(canary) then
            backend, alternate = alt, true
        end
    end
    if (not backend or #backend.endpoints == 0) and route.fallback then
        -- default-backend: it answers while the Service has no endpoints.
        backend, alternate = state.backends[route.fallback], true
    end
    if not backend or #backend.endpoints == 0 then
        return false, "no ready endpoints for " .. route.backend
    end
    ctx.portico_route_data, ctx.portico_backend, ctx.portico_alternate = route, backend, alternate
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
        ngx.log(ngx.WARN, "portico: ", why)
        return ngx.exit(503)
    end
end

-- unavailable sends the attempt to the loopback server that answers 503
-- ($portico_unavailable, "host:port"): the balancer phase cannot answer by
-- itself, nginx would turn any error here into a 500 or 502.
local unavailable_host, unavailable_port
local function unavailable(why)
    ngx.log(ngx.WARN, "portico: ", why)
    if not unavailable_host then
        -- Parsed once per worker: a worker runs one config, and a reload
        -- starts new workers.
        local host, port = string.match(ngx_var.portico_unavailable or "", "^(.+):(%d+)$")
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
        ep = round_robin(backend, exclude)
    elseif route.affinity then
        ep = pick_affinity(route, backend, exclude, ctx)
    else
        ep = pick_policy(route, backend, exclude)
    end
    ctx.portico_peer = ep
    if route.balance == "least_conn" then
        local counted = ctx.portico_counted
        if counted then
            inflight[counted] = (inflight[counted] or 1) - 1
        end
        inflight[ep.addr] = (inflight[ep.addr] or 0) + 1
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
    local existing = ngx.header["Set-Cookie"]
    if existing == nil then
        ngx.header["Set-Cookie"] = cookie
    elseif type(existing) == "table" then
        existing[#existing + 1] = cookie
        ngx.header["Set-Cookie"] = existing
    else
        ngx.header["Set-Cookie"] = { existing, cookie }
    end
end

-- log feeds ewma with the time the endpoint took to answer, and ends the
-- request's count for least_conn.
function _M.log()
    local ctx = ngx.ctx
    local counted = ctx.portico_counted
    if counted then
        inflight[counted] = (inflight[counted] or 1) - 1
    end
    local route = ctx.portico_route_data
    if not route or route.balance ~= "ewma" then
        return
    end
    local ep = ctx.portico_peer
    local rtt = tonumber(ngx_var.upstream_header_time)
    if not ep or not rtt then
        return
    end
    local now = ngx.now()
    local s = ewma[ep.addr]
    if not s then
        ewma[ep.addr] = { value = rtt, time = now }
        return
    end
    local weight = math_exp(-(now - s.time) / EWMA_DECAY_SECONDS)
    s.value = s.value * weight + rtt * (1 - weight)
    s.time = now
end

-- configure is the internal server's POST handler: it checks the whole
-- document (portico.document) and only then stores it for every worker, so
-- a bad push changes nothing. GET answers the md5 of what is stored, so the
-- controller can tell whether nginx (perhaps restarted) holds its latest
-- push.
function _M.configure()
    if ngx.req.get_method() == "GET" then
        ngx.say(shared:get("md5") or "")
        return
    end
    if ngx.req.get_method() ~= "POST" then
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
    local doc, err = document.decode(body)
    if not doc then
        ngx.log(ngx.ERR, "portico: balancer data refused: ", err)
        ngx.status = 400
        ngx.say("refused: ", err)
        return
    end
    local ok, set_err = shared:set("config", body)
    if not ok then
        ngx.status = 500
        ngx.say("storing the configuration failed: ", set_err)
        return
    end
    local md5 = ngx.md5(body)
    shared:set("md5", md5)
    shared:incr("version", 1, 0)
    ngx.say(md5)
end

return _M
