-- A pool is one pushed backend's endpoints as every algorithm reads them:
--   { endpoints = { ep, ... },      -- in the pushed order
--     by_id = { [ep.id] = ep },     -- for persistent affinity cookies
--     next_index = i,               -- round robin's and least_conn's cursor
--     ring = nil }                  -- chash builds it on first use
-- and an endpoint is { addr = "10.0.0.1:8080", host = "10.0.0.1",
-- port = 8080, id = first 16 hex digits of md5(addr) }.
-- Pools are built once per push by the store and never change after that
-- but for the cursor and the lazily built ring.

local tonumber = tonumber
local type = type
local ipairs = ipairs

local _M = {}

-- endpoint parses "a.b.c.d:port" or "[v6]:port" (portico/document.lua has
-- checked the text already); md5 is ngx.md5.
function _M.endpoint(text, md5)
    local host, port = text:match("^%[(.+)%]:(%d+)$")
    if not host then
        host, port = text:match("^([^:]+):(%d+)$")
    end
    if not host then
        return nil
    end
    return { addr = text, host = host, port = tonumber(port), id = md5(text):sub(1, 16) }
end

-- new builds a pool from a pushed list; md5 is ngx.md5, random is
-- math.random.
function _M.new(list, md5, random)
    local endpoints, by_id = {}, {}
    for _, text in ipairs(list) do
        local ep = type(text) == "string" and _M.endpoint(text, md5)
        if ep then
            endpoints[#endpoints + 1] = ep
            by_id[ep.id] = ep
        end
    end
    -- Start each worker's round robin at a different place, so that N
    -- workers do not send their first requests to the same endpoint.
    local next_index = 1
    if #endpoints > 0 then
        next_index = random(#endpoints)
    end
    return { endpoints = endpoints, by_id = by_id, next_index = next_index }
end

return _M
