-- Request metrics, aggregated inside nginx.
--
-- ingress-nginx sent every request's figures as JSON over a socket to its
-- controller, which then observed them one by one. Here the log phase only
-- adds the request to its worker's own table (no lock, no socket, no
-- allocation once the request's label set has been seen); a timer moves
-- each worker's additions to the shared dict once a second, and the
-- controller reads the dict through the internal server (dump) when it is
-- scraped. Labels that follow from the location (namespace, Ingress,
-- Service, path) are not read per request at all: the location's route ID
-- stands for them, and the controller, which made the routes, names them.
--
-- The configuration comes from nginx.conf's `env PORTICO_METRICS=...`
-- (pkg/requestmetrics writes it), read in each worker:
--   TAG;HOST;METRICS;TIME-BUCKETS;LENGTH-BUCKETS;SIZE-BUCKETS
-- TAG names the layout below (a change of buckets or metrics starts the
-- dict afresh), HOST is "none", "server" (the matched server_name; the
-- default server's requests get "") or "any" (the default server's
-- requests get the client's Host), METRICS the histograms recorded (codes
-- below, in this order), each BUCKETS list upper bounds.
--
-- One label set is
--   TAG \t ROUTE \t STATUS \t METHOD \t HOST \t CANARY
-- and its figures are the dict keys "SET \t N", N being the index in the
-- layout: 1 the request count, then for each histogram its count, its
-- sum and one count per bucket (the last one +Inf), not cumulative.

local setmetatable = setmetatable
local tonumber = tonumber
local tostring = tostring
local type = type
local pairs = pairs
local ipairs = ipairs
local concat = table.concat
local string_format = string.format
local string_find = string.find
local string_gmatch = string.gmatch
local string_sub = string.sub

local _M = {}
local mt = { __index = _M }

-- The histograms, in layout order, and which bucket list each uses
-- (ingress-nginx's: time for durations, length for sizes, size for the
-- deprecated bytes_sent).
_M.HISTOGRAMS = {
    { code = "request_duration", buckets = "time" },
    { code = "response_duration", buckets = "time" },
    { code = "connect_duration", buckets = "time" },
    { code = "header_duration", buckets = "time" },
    { code = "request_size", buckets = "length" },
    { code = "response_size", buckets = "length" },
    { code = "bytes_sent", buckets = "size" },
}

-- Methods nginx accepts are any token; only these keep their name in the
-- method label, others count as "OTHER", so a client cannot make a new
-- series per request.
local METHODS = {
    GET = "GET", HEAD = "HEAD", POST = "POST", PUT = "PUT", DELETE = "DELETE",
    CONNECT = "CONNECT", OPTIONS = "OPTIONS", TRACE = "TRACE", PATCH = "PATCH",
}

-- Keys of the dict that are not figures start with "#".
_M.TAG_KEY = "#tag"
_M.DROPPED_KEY = "#dropped"

local function parse_bounds(s, what)
    local out = {}
    if s == "" then
        return nil, what .. " buckets: none"
    end
    for part in string_gmatch(s, "[^,]+") do
        local v = tonumber(part)
        if not v or v ~= v or v == math.huge then
            return nil, what .. " buckets: " .. part .. " is not a number"
        end
        if #out > 0 and v <= out[#out] then
            return nil, what .. " buckets: not increasing at " .. part
        end
        out[#out + 1] = v
    end
    return out
end

-- parse_config reads PORTICO_METRICS's value; nil, why for a bad one.
function _M.parse_config(s)
    if type(s) ~= "string" or s == "" then
        return nil, "empty"
    end
    local f = {}
    for part in string_gmatch(s .. ";", "([^;]*);") do
        f[#f + 1] = part
    end
    if #f ~= 6 then
        return nil, "want 6 fields separated by ';', got " .. #f
    end
    local cfg = { tag = f[1], host = f[2], enabled = {} }
    if not string_find(cfg.tag, "^%x+$") then
        return nil, "tag " .. cfg.tag .. " is not hex"
    end
    if cfg.host ~= "none" and cfg.host ~= "server" and cfg.host ~= "any" then
        return nil, "host mode " .. cfg.host .. " is not none, server or any"
    end
    for code in string_gmatch(f[3], "[^,]+") do
        cfg.enabled[code] = true
    end
    local err
    cfg.time, err = parse_bounds(f[4], "time")
    if not cfg.time then
        return nil, err
    end
    cfg.length, err = parse_bounds(f[5], "length")
    if not cfg.length then
        return nil, err
    end
    cfg.size, err = parse_bounds(f[6], "size")
    if not cfg.size then
        return nil, err
    end
    return cfg
end

-- new returns a worker's aggregator for cfg (parse_config's). deps.shared is
-- the dict (ngx.shared.portico_metrics), deps.log logs an error.
function _M.new(cfg, deps)
    local self = setmetatable({
        cfg = cfg,
        shared = deps.shared,
        log = deps.log,
        agg = {},   -- route -> status -> method -> host -> canary -> record
        dirty = {}, -- records with figures not yet in the dict
        size = 1,   -- figures per record
        hist = {},  -- per histogram code: { offset, bounds } or nil when off
    }, mt)
    for _, h in ipairs(_M.HISTOGRAMS) do
        if cfg.enabled[h.code] then
            local bounds = cfg[h.buckets]
            self.hist[h.code] = { offset = self.size + 1, bounds = bounds, n = #bounds }
            self.size = self.size + 2 + #bounds + 1
        end
    end
    return self
end

local function child(t, k)
    local c = t[k]
    if not c then
        c = {}
        t[k] = c
    end
    return c
end

-- record returns the label set's record, made (with its dict key prefix)
-- the first time the worker sees the set.
local function record(self, route, status, method, host, canary)
    local by_canary = child(child(child(child(self.agg, route), status), method), host)
    local rec = by_canary[canary]
    if rec then
        return rec
    end
    rec = { prefix = concat({ self.cfg.tag, route, tostring(status), method, host, canary, "" }, "\t"), dirty = false }
    for i = 1, self.size do
        rec[i] = 0
    end
    by_canary[canary] = rec
    return rec
end

local function observe_hist(rec, h, v)
    if not h or not v then
        return
    end
    local o = h.offset
    rec[o] = rec[o] + 1
    rec[o + 1] = rec[o + 1] + v
    local bounds, b = h.bounds, h.n
    for i = 1, h.n do
        if v <= bounds[i] then
            b = i - 1
            break
        end
    end
    rec[o + 2 + b] = rec[o + 2 + b] + 1
end

-- observe adds one request. Figures that did not happen (no upstream) are nil.
function _M.observe(self, route, status, method, host, canary,
                    request_time, upstream_response, upstream_connect, upstream_header,
                    request_length, bytes_sent)
    local rec = record(self, route or "", status, METHODS[method] or "OTHER", host or "", canary or "")
    rec[1] = rec[1] + 1
    local hist = self.hist
    observe_hist(rec, hist.request_duration, request_time)
    observe_hist(rec, hist.response_duration, upstream_response)
    observe_hist(rec, hist.connect_duration, upstream_connect)
    observe_hist(rec, hist.header_duration, upstream_header)
    observe_hist(rec, hist.request_size, request_length)
    observe_hist(rec, hist.response_size, bytes_sent)
    observe_hist(rec, hist.bytes_sent, bytes_sent)
    if not rec.dirty then
        rec.dirty = true
        local dirty = self.dirty
        dirty[#dirty + 1] = rec
    end
end

-- add adds v to the dict's key without ever evicting another key: a full
-- dict drops the figure and counts it, so no series goes backwards.
local function add(shared, key, v)
    local _, err = shared:incr(key, v)
    if not err then
        return true
    end
    local ok, add_err = shared:safe_add(key, v)
    if ok then
        return true
    end
    if add_err == "exists" then
        -- Another worker made it in between.
        _, err = shared:incr(key, v)
        return not err
    end
    return false
end

-- flush moves the worker's figures to the dict. It returns how many
-- figures a full dict dropped.
function _M.flush(self)
    local dirty = self.dirty
    if #dirty == 0 then
        return 0
    end
    self.dirty = {}
    local shared, dropped = self.shared, 0
    for _, rec in ipairs(dirty) do
        rec.dirty = false
        local prefix = rec.prefix
        for i = 1, self.size do
            local v = rec[i]
            if v ~= 0 then
                rec[i] = 0
                if not add(shared, prefix .. i, v) then
                    dropped = dropped + 1
                end
            end
        end
    end
    if dropped > 0 then
        add(shared, _M.DROPPED_KEY, dropped)
        self.log("portico: the request metrics dict is full: ", dropped,
            " figures dropped; raise --request-metrics-memory")
    end
    return dropped
end

-- reset_if_other_layout empties the dict when it holds another layout's
-- figures (a reload that changed buckets or metrics): they would be read
-- wrongly. Worker 0 calls it when it starts.
function _M.reset_if_other_layout(self)
    local shared = self.shared
    if shared:get(_M.TAG_KEY) ~= self.cfg.tag then
        shared:flush_all()
        shared:flush_expired()
        shared:set(_M.TAG_KEY, self.cfg.tag)
    end
    -- Made now, while there is room, so that a full dict can still count
    -- what it drops.
    shared:safe_add(_M.DROPPED_KEY, 0)
end

-- dump returns the dict as lines "KEY\tVALUE\n" (a list, for ngx.print).
function _M.dump(shared)
    local out = {}
    local keys = shared:get_keys(0)
    for _, k in ipairs(keys) do
        local v = shared:get(k)
        if v then
            out[#out + 1] = k
            out[#out + 1] = "\t"
            out[#out + 1] = type(v) == "number" and string_format("%.17g", v) or tostring(v)
            out[#out + 1] = "\n"
        end
    end
    return out
end

-- forget deletes the figures of the given routes (deleted Ingresses); the
-- controller says which after they have been gone for a while.
function _M.forget(shared, routes)
    local n = 0
    local keys = shared:get_keys(0)
    for _, k in ipairs(keys) do
        local first = string_find(k, "\t", 1, true)
        if first then
            local second = string_find(k, "\t", first + 1, true)
            if second and routes[string_sub(k, first + 1, second - 1)] then
                shared:delete(k)
                n = n + 1
            end
        end
    end
    return n
end

-- upstream_time reads an $upstream_*_time value: one number, or several
-- (one per attempt, ", " and " : " between them) which are summed; nil when
-- nothing was proxied.
function _M.upstream_time(s)
    if not s then
        return nil
    end
    local v = tonumber(s)
    if v then
        return v
    end
    local sum, any = 0, false
    for part in string_gmatch(s, "[%d%.]+") do
        local n = tonumber(part)
        if n then
            sum, any = sum + n, true
        end
    end
    if any then
        return sum
    end
    return nil
end

-- Guards the host label's characters where it comes from the client.
function _M.clean_host(h)
    if not h or h == "" or #h > 253 or string_find(h, "[^%w%.%-:%[%]]") then
        return ""
    end
    return h
end

return _M
