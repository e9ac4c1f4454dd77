-- least_conn: the endpoint with the fewest requests in flight, counted by
-- this worker (workers share no counters: a shared dict would cost a lock
-- per request, and each worker balancing its own share evens out the sum).
-- Scanning from the pool's round robin cursor makes ties rotate instead of
-- piling on the first endpoint.
--
-- The balancer counts a request with acquire() when an attempt goes to an
-- endpoint, and ends it with release() when the next attempt moves it or
-- when the request is logged.

local setmetatable = setmetatable

local _M = { name = "least_conn" }
local mt = { __index = _M }

function _M.new()
    -- inflight: address -> requests in flight. Keyed by address, not by
    -- pool, so that a push (which rebuilds every pool) forgets nothing.
    return setmetatable({ inflight = {} }, mt)
end

function _M.pick(self, pool, exclude)
    local inflight = self.inflight
    local endpoints = pool.endpoints
    local n = #endpoints
    local start = pool.next_index
    pool.next_index = start % n + 1
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

function _M.acquire(self, addr)
    local inflight = self.inflight
    inflight[addr] = (inflight[addr] or 0) + 1
end

function _M.release(self, addr)
    local inflight = self.inflight
    inflight[addr] = (inflight[addr] or 1) - 1
end

return _M
