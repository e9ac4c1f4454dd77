-- Checks a document the controller pushes to the internal server before it
-- takes effect. A push is refused whole when any part is wrong (a missing
-- field, a wrong type, an endpoint that is not "ip:port", a route naming a
-- pool that is not there, a list past its bound): the routes in place keep
-- working, and the controller gets the reason. See balancer/store.lua for
-- the document's shape; it mirrors pkg/model/lua.go.

local cjson = require("cjson.safe")

local type = type
local pairs = pairs
local tonumber = tonumber
local math_floor = math.floor

local _M = {}

-- Bounds far above what a cluster pushes (10,000 Services of a few
-- endpoints each are some 30,000 endpoints), low enough that a document
-- cannot make every worker build tables for minutes.
_M.MAX_ENDPOINTS = 65536 -- per pool
_M.MAX_POOLS = 200000
_M.MAX_ROUTES = 1000000
local MAX_NAME = 512

local function fail(where, what)
    return nil, where .. ": " .. what
end

-- count returns the number of keys of t, or nil past limit.
local function count(t, limit)
    local n = 0
    for _ in pairs(t) do
        n = n + 1
        if n > limit then
            return nil
        end
    end
    return n
end

-- is_array: a table whose keys are exactly 1..n (cjson decodes [] and {}
-- alike, both are accepted as empty).
local function is_array(t, limit)
    local n = count(t, limit)
    if not n then
        return false, "more than " .. limit .. " entries"
    end
    for i = 1, n do
        if t[i] == nil then
            return false, "not a list"
        end
    end
    return true
end

local function is_int(v, min, max)
    return type(v) == "number" and v == math_floor(v) and v >= min and v <= max
end

local function ipv4(host)
    local a, b, c, d = host:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
    if not a then
        return false
    end
    for _, part in ipairs({ a, b, c, d }) do
        if #part > 3 or tonumber(part) > 255 then
            return false
        end
    end
    return true
end

local function ipv6(host)
    -- Hex groups, colons and at most one "::"; an embedded IPv4 tail is
    -- allowed. Enough to refuse anything that is not an address literal.
    if #host < 2 or #host > 45 or not host:match("^[%x:%.]+$") or not host:find(":", 1, true) then
        return false
    end
    local _, doubles = host:gsub("::", "")
    return doubles <= 1 and not host:find(":::", 1, true)
end

-- _M.endpoint checks "a.b.c.d:port" or "[v6]:port".
function _M.endpoint(text)
    if type(text) ~= "string" or #text > 64 then
        return false
    end
    local host, port = text:match("^%[(.+)%]:(%d+)$")
    local ok = host and ipv6(host)
    if not host then
        host, port = text:match("^([%d%.]+):(%d+)$")
        ok = host and ipv4(host)
    end
    port = tonumber(port)
    return ok and port ~= nil and port >= 1 and port <= 65535 or false
end

local function name(v)
    return type(v) == "string" and #v > 0 and #v <= MAX_NAME and v:match("^[%w%._:%-]+$") ~= nil
end

local function optional(v, check)
    return v == nil or check(v)
end

local function text(max)
    return function(v)
        -- No control characters: values become header and cookie text.
        return type(v) == "string" and #v <= max and not v:find("[%z\1-\31\127]")
    end
end

local function one_of(...)
    local set = {}
    for _, v in ipairs({ ... }) do
        set[v] = true
    end
    return function(v)
        return set[v] == true
    end
end

local function boolean(v)
    return type(v) == "boolean"
end

local cookie_name = function(v)
    return type(v) == "string" and #v >= 1 and #v <= 64 and v:match("^[%w!#%%&*+%-%.%^_~]+$") ~= nil
end

local function hash_by(v)
    if type(v) ~= "string" or #v > 256 or not v:match("^%$") then
        return false
    end
    local n = 0
    for var in v:gmatch("%$([^%$]*)") do
        if not var:match("^[%a_][%w_]*$") then
            return false
        end
        n = n + 1
    end
    return n >= 1 and n <= 4
end

-- pattern returns the check of a canary header pattern: it must compile
-- (re_find is ngx.re.find, which reports a bad regex as its third value).
local function pattern(re_find)
    local short = text(1024)
    return function(v)
        if not short(v) then
            return false
        end
        local _, _, err = re_find("", v, "jo")
        return err == nil
    end
end

-- check_fields applies the checks of spec to t's fields and refuses any
-- field spec does not know: a field the controller added and this code
-- does not read would otherwise be dropped without a word.
local function check_fields(where, t, spec)
    if type(t) ~= "table" then
        return fail(where, "not an object")
    end
    for k in pairs(t) do
        if spec[k] == nil then
            return fail(where, "unknown field " .. tostring(k))
        end
    end
    for k, check in pairs(spec) do
        if not check(t[k]) then
            return fail(where, "field " .. k .. " is missing or invalid")
        end
    end
    return true
end

local function route_checks(backends, re_find)
    local header_pattern = pattern(re_find)
    local pool = function(v)
        return type(v) == "string" and backends[v] ~= nil
    end
    local affinity = {
        mode = one_of("balanced", "persistent"),
        name = cookie_name,
        path = text(256),
        domain = function(v) return optional(v, text(253)) end,
        maxAge = function(v) return optional(v, function(n) return is_int(n, 0, 1e10) end) end,
        expires = function(v) return optional(v, function(n) return is_int(n, 0, 1e10) end) end,
        secure = function(v) return optional(v, boolean) end,
        sameSite = function(v) return optional(v, one_of("", "None", "Lax", "Strict")) end,
        changeOnFailure = function(v) return optional(v, boolean) end,
    }
    local canary = {
        backend = pool,
        source = text(MAX_NAME),
        weight = function(v) return is_int(v, 0, 1e9) end,
        weightTotal = function(v) return is_int(v, 1, 1e9) end,
        header = function(v) return optional(v, function(h) return type(h) == "string" and #h <= 64 and h:match("^[%w%-]+$") ~= nil end) end,
        headerValue = function(v) return optional(v, text(256)) end,
        headerPattern = function(v) return optional(v, header_pattern) end,
        cookie = function(v) return optional(v, cookie_name) end,
    }
    return {
        backend = pool,
        fallback = function(v) return optional(v, pool) end,
        balance = function(v) return optional(v, one_of("", "round_robin", "least_conn", "ewma")) end,
        hashBy = function(v) return optional(v, hash_by) end,
        affinity = function(v) return v == nil or check_fields("affinity", v, affinity) ~= nil end,
        canary = function(v) return v == nil or check_fields("canary", v, canary) ~= nil end,
    }
end

local function check_routes(where, routes, checks)
    if type(routes) ~= "table" then
        return fail(where, "not an object")
    end
    if not count(routes, _M.MAX_ROUTES) then
        return fail(where, "more than " .. _M.MAX_ROUTES .. " routes")
    end
    for id, route in pairs(routes) do
        if not name(id) then
            return fail(where, "invalid route id")
        end
        local ok, err = check_fields(where .. "." .. id, route, checks)
        if not ok then
            return nil, err
        end
    end
    return true
end

local function generation(v)
    return type(v) == "string" and #v <= 20 and v:match("^%d+$") ~= nil
end

-- _M.decode turns a pushed body into the document, or returns nil and why
-- it is refused. re_find is ngx.re.find unless given (so that the check
-- runs without nginx; it only checks that canary header patterns compile).
function _M.decode(body, re_find)
    if type(body) ~= "string" or body == "" then
        return nil, "empty body"
    end
    local doc, err = cjson.decode(body)
    if type(doc) ~= "table" then
        return nil, "invalid JSON: " .. tostring(err or "not an object")
    end
    for k in pairs(doc) do
        if k ~= "backends" and k ~= "routes" and k ~= "generation" and k ~= "previous" then
            return fail("document", "unknown field " .. tostring(k))
        end
    end
    if not generation(doc.generation) then
        return fail("generation", "missing or not a number in a string")
    end
    local backends = doc.backends
    if type(backends) ~= "table" then
        return fail("backends", "not an object")
    end
    if not count(backends, _M.MAX_POOLS) then
        return fail("backends", "more than " .. _M.MAX_POOLS .. " pools")
    end
    for pool, list in pairs(backends) do
        if not name(pool) then
            return fail("backends", "invalid pool name")
        end
        if type(list) ~= "table" then
            return fail("backends." .. pool, "not a list")
        end
        local ok, why = is_array(list, _M.MAX_ENDPOINTS)
        if not ok then
            return fail("backends." .. pool, why)
        end
        for i = 1, #list do
            if not _M.endpoint(list[i]) then
                return fail("backends." .. pool, "entry " .. i .. " is not ip:port")
            end
        end
    end
    local checks = route_checks(backends, re_find or ngx.re.find)
    local ok, rerr = check_routes("routes", doc.routes, checks)
    if not ok then
        return nil, rerr
    end
    if doc.previous ~= nil then
        local prev = doc.previous
        if type(prev) ~= "table" then
            return fail("previous", "not an object")
        end
        for k in pairs(prev) do
            if k ~= "generation" and k ~= "routes" then
                return fail("previous", "unknown field " .. tostring(k))
            end
        end
        if not generation(prev.generation) then
            return fail("previous.generation", "missing or not a number in a string")
        end
        ok, rerr = check_routes("previous.routes", prev.routes, checks)
        if not ok then
            return nil, rerr
        end
    end
    return doc
end

return _M
