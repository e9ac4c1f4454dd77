local stub = require("spec.helpers.ngx")
local pool = require("portico.balancer.pool")
local least_conn = require("portico.balancer.least_conn")

local function new_pool(n)
    return pool.new(stub.endpoints(n), stub.md5, stub.random(7))
end

describe("least_conn", function()
    local lc, p
    before_each(function()
        lc = least_conn.new()
        p = new_pool(3)
    end)

    it("prefers the idle endpoint", function()
        local a, b, c = p.endpoints[1], p.endpoints[2], p.endpoints[3]
        for _ = 1, 3 do
            lc:acquire(a.addr)
        end
        lc:acquire(b.addr)
        for _ = 1, 10 do
            assert.are.equal(c, lc:pick(p, nil))
        end
    end)

    it("keeps requests in flight even when none finishes", function()
        local counts = {}
        for _ = 1, 30 do
            local ep = lc:pick(p, nil)
            lc:acquire(ep.addr)
            counts[ep.addr] = (counts[ep.addr] or 0) + 1
        end
        for _, ep in ipairs(p.endpoints) do
            assert.are.equal(10, counts[ep.addr])
        end
    end)

    it("sends new requests away from an endpoint whose requests hang", function()
        local slow = p.endpoints[2]
        local counts = {}
        for _ = 1, 60 do
            local ep = lc:pick(p, nil)
            lc:acquire(ep.addr)
            counts[ep.addr] = (counts[ep.addr] or 0) + 1
            if ep ~= slow then
                lc:release(ep.addr) -- fast endpoints answer at once
            end
        end
        -- The slow endpoint got one request (the first time its turn came
        -- with all counts at 0), then was always the busiest.
        assert.are.equal(1, counts[slow.addr])
    end)

    it("rotates ties instead of piling on the first endpoint", function()
        local seen = {}
        for _ = 1, 3 do
            local ep = lc:pick(p, nil)
            seen[ep.addr] = true
            lc:acquire(ep.addr)
            lc:release(ep.addr)
        end
        for _, ep in ipairs(p.endpoints) do
            assert.is_true(seen[ep.addr], ep.addr .. " never picked")
        end
    end)

    it("skips the peer that just failed, idle or not", function()
        local idle = p.endpoints[3]
        lc:acquire(p.endpoints[1].addr)
        lc:acquire(p.endpoints[2].addr)
        assert.are_not.equal(idle, lc:pick(p, idle.addr))
    end)

    it("counts back to zero", function()
        local addr = p.endpoints[1].addr
        lc:acquire(addr)
        lc:acquire(addr)
        lc:release(addr)
        lc:release(addr)
        assert.are.equal(0, lc.inflight[addr])
    end)
end)
