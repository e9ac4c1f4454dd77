-- chash: consistent hashing (upstream-hash-by). Each endpoint owns
-- POINTS points on a ring of 32-bit hashes; a key goes to the owner of the
-- first point at or after its own hash, wrapping around. Adding or removing
-- an endpoint therefore moves only the keys whose point changes owner:
-- those of the removed endpoint, or about 1/n of them to a new one.
--
-- Points and keys are placed by the first 32 bits of their md5. Not CRC32:
-- it is linear, so the labels "addr#1" to "addr#160" of neighbouring
-- addresses and keys like user-1, user-2 land in correlated places; three
-- loopback endpoints owned from 14 % to 62 % of the ring, and 16 of 20 such
-- keys often went to one of them.

local setmetatable = setmetatable
local string_byte = string.byte
local math_floor = math.floor
local table_sort = table.sort
local ipairs = ipairs

local _M = { name = "chash" }
local mt = { __index = _M }

-- Virtual nodes per endpoint: enough that each of three endpoints owns a
-- third of the keyspace give or take a few percent.
_M.POINTS = 160

-- new takes deps.md5_bin (ngx.md5_bin), deps.var (ngx.var, for key()) and
-- optionally deps.points.
function _M.new(deps)
    local md5_bin = deps.md5_bin
    return setmetatable({
        var = deps.var,
        points = deps.points or _M.POINTS,
        hash32 = function(s)
            local b1, b2, b3, b4 = string_byte(md5_bin(s), 1, 4)
            return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
        end,
    }, mt)
end

-- compile_key turns the pushed hashBy, "$request_uri$cookie_user", into the
-- variable names { "request_uri", "cookie_user" }, once per push. The
-- controller allowlists it to nginx variable names only.
function _M.compile_key(expr)
    local names = {}
    for name in expr:gmatch("%$([%w_]+)") do
        names[#names + 1] = name
    end
    return names
end

-- key is the request's hash key: the variables' values run together
-- (an unset one counts as ""). Concatenation, not table.concat, so that
-- the request allocates no table; hashBy has at most 4 variables.
function _M.key(self, names)
    local var = self.var
    local key = var[names[1]] or ""
    for i = 2, #names do
        key = key .. (var[names[i]] or "")
    end
    return key
end

local function by_hash(x, y)
    if x[1] == y[1] then
        return x[2].addr < y[2].addr
    end
    return x[1] < y[1]
end

-- ring returns the pool's ring, { { hash, ep }, ... } sorted by hash, built
-- on first use after a push.
function _M.ring(self, pool)
    local points = pool.ring
    if points then
        return points
    end
    points = {}
    local hash32, count = self.hash32, self.points
    for _, ep in ipairs(pool.endpoints) do
        for i = 1, count do
            points[#points + 1] = { hash32(ep.addr .. "#" .. i), ep }
        end
    end
    table_sort(points, by_hash)
    pool.ring = points
    return points
end

-- pick returns the owner of key; with exclude set, the next point owned by
-- another endpoint, so a retry goes where the key would go without the
-- failed endpoint.
function _M.pick(self, pool, exclude, key)
    local points = pool.ring or self:ring(pool)
    local n = #points
    local h = self.hash32(key)
    local lo, hi = 1, n
    while lo < hi do
        local mid = math_floor((lo + hi) / 2)
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

return _M
