-- The store: the pushed document in shared memory, and each worker's view
-- of it.
--
-- The controller pushes the document (JSON) to the internal server; push()
-- checks it whole (portico/document.lua) and only then stores it in the
-- shared dict (lua_shared_dict portico, which survives reloads) and bumps
-- its version. Every worker notices the new version on its next request
-- (route()) and rebuilds its pools and routes once; a version whose
-- document it cannot use (it never should: push checked it) leaves the
-- worker on its last good view.
--
-- The document is
--   { "backends": { NAME: ["10.0.0.1:8080", "[fd00::1]:80", ...] },
--     "routes":   { ID: { "backend": NAME,
--                         "balance": "round_robin"|"least_conn"|"ewma",
--                         "hashBy": "$request_uri",
--                         "affinity": { "mode", "name", "path", "domain",
--                                       "maxAge", "expires", "secure",
--                                       "sameSite", "changeOnFailure" },
--                         "canary": { "backend", "weight", "weightTotal",
--                                     "header", "headerValue",
--                                     "headerPattern", "cookie", "source" },
--                         "fallback": NAME } },
--     "generation": "7",
--     "previous":  { "generation": "6", "routes": { ... } } }
-- (pkg/model/lua.go writes it). Each location of nginx.conf sets
-- $portico_route to its route ID, and the http block maps
-- $portico_generation to the config's generation; during a reload
-- "previous" holds the routes of the config old workers still run.

local pool = require("portico.balancer.pool")
local chash = require("portico.balancer.chash")
local canary = require("portico.balancer.canary")
local affinity = require("portico.balancer.affinity")

local setmetatable = setmetatable
local pairs = pairs
local type = type

local _M = {}
local mt = { __index = _M }

-- new takes
--   deps.shared      the shared dict (ngx.shared.portico)
--   deps.decode      JSON decoder returning nil, err on bad input (cjson.safe's decode)
--   deps.check       the push check, function(body) -> doc | nil, err (portico.document's decode)
--   deps.md5         ngx.md5 (endpoint ids, the stored document's sum)
--   deps.random      math.random (where each pool's round robin starts)
--   deps.var         ngx.var (the worker's $portico_generation during a reload)
--   deps.algorithms  name -> algorithm instance for a route's "balance";
--                    round_robin is also the default
--   deps.log         function(...) that logs an error
function _M.new(deps)
    return setmetatable({
        shared = deps.shared,
        decode = deps.decode,
        check = deps.check,
        md5 = deps.md5,
        random = deps.random,
        var = deps.var,
        algorithms = deps.algorithms,
        log = deps.log,
        state = { version = nil, routes = {}, backends = {}, previous_routes = {} },
    }, mt)
end

-- push checks body and stores it for every worker: it returns the body's
-- md5, or nil, the HTTP status to answer and why. A refused push changes
-- nothing.
function _M.push(self, body)
    local doc, err = self.check(body)
    if not doc then
        return nil, 400, err
    end
    local shared = self.shared
    local ok, set_err = shared:set("config", body)
    if not ok then
        return nil, 500, set_err
    end
    local md5 = self.md5(body)
    shared:set("md5", md5)
    shared:set("seeded", nil)
    shared:incr("version", 1, 0)
    return md5
end

-- seed stores body as push does when nothing is held yet (nginx just
-- started), from the copy of its last push the controller keeps, and marks
-- it seeded: workers use it only if it was pushed for their config's
-- generation, and stored_md5 answers "" until a real push, so the
-- controller pushes all the same. It returns the md5, or nil and why
-- (nil, nil when the dict already holds data: a reload).
function _M.seed(self, body)
    if self.shared:get("version") then
        return nil, nil
    end
    local md5, _, err = self:push(body)
    if not md5 then
        return nil, err
    end
    self.shared:set("seeded", true)
    return md5
end

-- stored_md5 is the md5 of the document held, "" before the first push
-- (and while the document held is only seeded).
function _M.stored_md5(self)
    if self.shared:get("seeded") then
        return ""
    end
    return self.shared:get("md5") or ""
end

-- compile_route adds what the request path needs to a decoded route, once
-- per push, so that requests look nothing up by name.
local function compile_route(self, route)
    if type(route.hashBy) == "string" and route.hashBy ~= "" then
        route.hash_vars = chash.compile_key(route.hashBy)
    end
    local algorithms = self.algorithms
    route.algorithm = algorithms[route.balance] or algorithms.round_robin
    if type(route.canary) == "table" then
        canary.compile(route.canary)
    end
    if type(route.affinity) == "table" then
        affinity.compile(route.affinity)
    end
    return route
end

local function compile_routes(self, list)
    local routes = {}
    if type(list) == "table" then
        for id, route in pairs(list) do
            if type(route) == "table" and type(route.backend) == "string" then
                routes[id] = compile_route(self, route)
            end
        end
    end
    return routes
end

-- rebuild makes the worker's view of version (the stored one) and returns it:
--   { version, backends = { NAME = pool }, routes = { ID = route },
--     previous_generation, previous_routes }
local function rebuild(self, version)
    local state = self.state
    local body = self.shared:get("config")
    local doc, err = nil, "no configuration pushed yet"
    if body then
        doc, err = self.decode(body)
    end
    if type(doc) ~= "table" then
        -- Keep routing as before, and do not try this version again.
        self.log("portico: dynamic configuration unusable, keeping the last good one: ", err)
        state.version = version
        return state
    end
    local previous = type(doc.previous) == "table" and doc.previous or {}
    if self.shared:get("seeded") then
        local generation = self.var.portico_generation
        if doc.generation ~= generation and previous.generation ~= generation then
            -- Seeded for another config than this worker's: its route IDs
            -- may mean other routes here. No route until the controller
            -- pushes.
            doc, previous = {}, {}
        end
    end
    local backends = {}
    if type(doc.backends) == "table" then
        local md5, random = self.md5, self.random
        for name, list in pairs(doc.backends) do
            if type(list) == "table" then
                backends[name] = pool.new(list, md5, random)
            end
        end
    end
    -- During a reload the document holds the routes of both configs, each
    -- under its generation: old workers keep routing as their config says
    -- until they stop, new workers route as theirs does.
    state = {
        version = version,
        backends = backends,
        routes = compile_routes(self, doc.routes),
        previous_generation = previous.generation,
        previous_routes = compile_routes(self, previous.routes),
    }
    self.state = state
    return state
end

-- refresh brings the worker's view up to the stored version and returns it.
function _M.refresh(self)
    local version = self.shared:get("version")
    if version == self.state.version then
        return self.state
    end
    return rebuild(self, version)
end

-- route returns the route id of the config generation this worker runs and
-- the pools by name, after a refresh. Only during a reload (previous routes
-- pushed) does the generation depend on the worker, so
-- $portico_generation is read only then. It runs on every request: one
-- shared dict read unless a push came.
function _M.route(self, id)
    local state = self.state
    local version = self.shared:get("version")
    if version ~= state.version then
        state = rebuild(self, version)
    end
    local routes = state.routes
    local previous = state.previous_generation
    if previous and self.var.portico_generation == previous then
        routes = state.previous_routes
    end
    return routes[id], state.backends
end

return _M
