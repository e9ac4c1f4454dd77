-- Round robin: each pick takes the endpoint at the pool's cursor and moves
-- it on. The cursor lives in the pool (one per worker, since pools are
-- worker-local), so every route of one backend shares the rotation, and
-- pool.lua starts it at a random place per worker.
--
-- Every algorithm module has this shape (see portico/balancer.lua):
--   local algo = module.new(deps)              -- once per worker
--   local ep = algo:pick(pool, exclude, key)   -- per attempt
-- exclude is the address of the peer the previous attempt failed on (nil
-- on the first attempt); it is skipped unless it is the only endpoint.

local setmetatable = setmetatable

local _M = { name = "round_robin" }
local mt = { __index = _M }

function _M.new()
    return setmetatable({}, mt)
end

function _M.pick(_, pool, exclude)
    local endpoints = pool.endpoints
    local n = #endpoints
    for _ = 1, n do
        local i = pool.next_index
        pool.next_index = i % n + 1
        local ep = endpoints[i]
        if ep.addr ~= exclude then
            return ep
        end
    end
    return endpoints[1]
end

return _M
