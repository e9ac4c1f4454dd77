-- ewma: power of two choices over each endpoint's smoothed response time
-- (an exponentially weighted moving average, as ingress-nginx's ewma and
-- Finagle's PeakEwma). Two random endpoints are drawn and the one with the
-- lower score wins: cheap, and unlike always taking the best it keeps new
-- and recovered endpoints in rotation.
--
-- A score decays with the time since its last sample,
--   score = value * exp(-(now - time) / decay),
-- so an endpoint that was slow once and has not been picked since comes
-- back below its peers' scores after a few decay periods, is picked, and
-- its new samples count almost alone. A new sample weighs in the same way:
--   value = value * w + rtt * (1 - w), w = exp(-(now - time) / decay).
-- An endpoint without samples scores 0, so new endpoints get traffic first.

local setmetatable = setmetatable
local math_exp = math.exp

local _M = { name = "ewma", DECAY_SECONDS = 10 }
local mt = { __index = _M }

-- new takes deps.now (ngx.now), deps.random (math.random) and optionally
-- deps.decay in seconds.
function _M.new(deps)
    return setmetatable({
        -- address -> { value = seconds, time = when last updated }. Kept
        -- across pushes, so that a push does not forget what the worker
        -- learned.
        stats = {},
        now = deps.now,
        random = deps.random,
        decay = deps.decay or _M.DECAY_SECONDS,
    }, mt)
end

local function decayed(stats, decay, addr, now)
    local s = stats[addr]
    if not s then
        return 0
    end
    return s.value * math_exp(-(now - s.time) / decay)
end

-- score is the decayed average of addr at time now (0 without samples).
function _M.score(self, addr, now)
    return decayed(self.stats, self.decay, addr, now)
end

function _M.pick(self, pool, exclude)
    local endpoints = pool.endpoints
    local n = #endpoints
    if n == 1 then
        return endpoints[1]
    end
    local random = self.random
    local a = endpoints[random(n)]
    local b = endpoints[random(n)]
    if a == b then
        b = endpoints[(a == endpoints[n]) and 1 or n]
    end
    if a.addr == exclude then
        return b
    end
    if b.addr == exclude then
        return a
    end
    local stats, decay, now = self.stats, self.decay, self.now()
    if decayed(stats, decay, b.addr, now) < decayed(stats, decay, a.addr, now) then
        return b
    end
    return a
end

-- observe adds a response time (seconds) of addr, in the log phase.
function _M.observe(self, addr, rtt)
    local now = self.now()
    local s = self.stats[addr]
    if not s then
        self.stats[addr] = { value = rtt, time = now }
        return
    end
    local weight = math_exp(-(now - s.time) / self.decay)
    s.value = s.value * weight + rtt * (1 - weight)
    s.time = now
end

return _M
