-- What the specs hand the balancer's modules in place of nginx. The modules
-- under portico/balancer/ take their dependencies as arguments (clock, md5,
-- random numbers, nginx variables, the shared dict), so most specs use the
-- pieces here one by one; balancer_spec.lua builds a whole fake `ngx` with
-- new() to drive portico/balancer.lua, the wiring, as the hooks do.

local md5 = require("spec.helpers.md5")

local _M = {}

_M.md5 = md5.hex
_M.md5_bin = md5.bin

-- random returns a function that behaves like math.random (no argument: a
-- float in [0, 1); m: an integer in [1, m]; m, n: in [m, n]) drawn from a
-- Park-Miller generator seeded with seed, so that a spec's draws are the
-- same on every run and do not depend on what else used math.random.
function _M.random(seed)
    local state = (seed or 1) % 2147483647
    if state <= 0 then
        state = state + 2147483646
    end
    -- Small neighbouring seeds would start with near-equal draws: step
    -- past them.
    for _ = 1, 8 do
        state = state * 48271 % 2147483647
    end
    return function(m, n)
        state = state * 48271 % 2147483647
        local u = (state - 1) / 2147483646
        if m == nil then
            return u
        end
        if n == nil then
            m, n = 1, m
        end
        return m + math.floor(u * (n - m + 1))
    end
end

-- clock returns a settable clock: clock.now() and clock.time() read clock.t.
function _M.clock(t)
    local c = { t = t or 1700000000 }
    c.now = function()
        return c.t
    end
    c.time = function()
        return math.floor(c.t)
    end
    return c
end

-- re_find stands in for ngx.re.find (PCRE) with Lua patterns: enough for
-- the simple patterns of the specs ("^v2%-beta"), and a pattern Lua cannot
-- compile comes back as the third value, as ngx.re.find reports a regex
-- PCRE cannot compile. The PCRE patterns the controller really prints
-- ((*LIMIT_MATCH=...), \A...\z) are checked on real nginx by
-- e2e/local's TestCanaryByHeader and against PCRE2 by pkg/pcre.
function _M.re_find(subject, pattern)
    local ok, from, to = pcall(string.find, subject, pattern)
    if not ok then
        return nil, nil, from
    end
    return from, to
end

-- cookie_time formats like ngx.cookie_time: "Thu, 18-Nov-2010 11:27:35 GMT".
function _M.cookie_time(sec)
    return os.date("!%a, %d-%b-%Y %H:%M:%S GMT", sec)
end

-- shared_dict is the part of ngx.shared.DICT the balancer uses.
function _M.shared_dict()
    local data = {}
    local dict = { data = data }
    function dict:get(key)
        return data[key]
    end
    function dict:set(key, value)
        data[key] = value
        return true
    end
    function dict:incr(key, by, init)
        local v = data[key]
        if v == nil then
            if init == nil then
                return nil, "not found"
            end
            v = init
        end
        data[key] = v + by
        return data[key]
    end
    -- The rest is what the request metrics use. capacity (optional)
    -- bounds the keys, as a full dict bounds them: safe_add then fails
    -- with "no memory" instead of evicting.
    function dict:safe_add(key, value)
        if data[key] ~= nil then
            return false, "exists"
        end
        if self.capacity then
            local n = 0
            for _ in pairs(data) do
                n = n + 1
            end
            if n >= self.capacity then
                return false, "no memory"
            end
        end
        data[key] = value
        return true
    end
    function dict:delete(key)
        data[key] = nil
    end
    function dict:get_keys(max)
        local keys = {}
        for k in pairs(data) do
            keys[#keys + 1] = k
        end
        table.sort(keys)
        return keys
    end
    function dict:flush_all()
        for k in pairs(data) do
            data[k] = nil
        end
    end
    function dict:flush_expired()
        return 0
    end
    return dict
end

-- logger returns a log function in ngx.log's shape and the list it fills
-- with one string per call.
function _M.logger()
    local lines = {}
    return function(level, ...)
        local parts = { tostring(level) }
        for i = 1, select("#", ...) do
            parts[#parts + 1] = tostring((select(i, ...)))
        end
        lines[#lines + 1] = table.concat(parts, " ")
    end, lines
end

-- endpoints returns n addresses "10.0.0.1:8080" ... in order.
function _M.endpoints(n, port)
    local list = {}
    for i = 1, n do
        list[i] = string.format("10.0.%d.%d:%d", math.floor(i / 250), i % 250 + 1, port or 8080)
    end
    return list
end

-- new builds a fake `ngx` global with everything portico/balancer.lua
-- reads: ngx.var and ngx.ctx are plain tables the spec fills per request
-- (reset() empties them in place, because the module keeps a reference to
-- ngx.var), ngx.exit records its status, ngx.header collects headers.
function _M.new(opts)
    opts = opts or {}
    local clock = _M.clock(opts.now)
    local log, lines = _M.logger()
    local fake = {
        ERR = "error", WARN = "warn", ERROR = -1,
        var = {},
        ctx = {},
        header = {},
        shared = { portico = _M.shared_dict() },
        re = { find = _M.re_find },
        md5 = _M.md5,
        md5_bin = _M.md5_bin,
        now = clock.now,
        time = clock.time,
        cookie_time = _M.cookie_time,
        log = log,
        is_subrequest = false,
        clock = clock,
        logged = lines,
        said = {},
        exits = {},
    }
    function fake.exit(status)
        fake.exits[#fake.exits + 1] = status
    end
    function fake.say(...)
        fake.said[#fake.said + 1] = table.concat({ ... })
    end
    -- reset starts a new request.
    function fake.reset(vars)
        for k in pairs(fake.var) do
            fake.var[k] = nil
        end
        for k, v in pairs(vars or {}) do
            fake.var[k] = v
        end
        fake.ctx = {}
        fake.header = {}
        fake.status = nil
        fake.exits = {}
        fake.said = {}
    end
    return fake
end

-- fake_ngx_balancer is a stand-in for require("ngx.balancer") that records
-- the peers set.
function _M.fake_ngx_balancer()
    local b = { peers = {}, more_tries = 0 }
    function b.set_current_peer(host, port)
        b.peers[#b.peers + 1] = host .. ":" .. tostring(port)
        return true
    end
    function b.set_more_tries(n)
        b.more_tries = b.more_tries + n
        return true
    end
    return b
end

return _M
