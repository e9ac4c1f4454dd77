local stub = require("spec.helpers.ngx")
local pool = require("portico.balancer.pool")
local round_robin = require("portico.balancer.round_robin")

local function new_pool(n, seed)
    return pool.new(stub.endpoints(n), stub.md5, stub.random(seed or 1))
end

describe("round_robin", function()
    local rr = round_robin.new()

    it("spreads picks evenly, in the pool's order from where it starts", function()
        local p = new_pool(3)
        local first = p.next_index
        local counts, order = {}, {}
        for i = 1, 300 do
            local ep = rr:pick(p, nil)
            counts[ep.addr] = (counts[ep.addr] or 0) + 1
            if i <= 3 then
                order[i] = ep
            end
        end
        for _, ep in ipairs(p.endpoints) do
            assert.are.equal(100, counts[ep.addr])
        end
        assert.are.equal(p.endpoints[first], order[1])
        assert.are.equal(p.endpoints[first % 3 + 1], order[2])
    end)

    it("starts each worker at a random place", function()
        local starts = {}
        for seed = 1, 40 do
            local p = new_pool(4, seed)
            assert.is_true(p.next_index >= 1 and p.next_index <= 4)
            starts[p.next_index] = true
        end
        for i = 1, 4 do
            assert.is_true(starts[i], "no worker started at " .. i)
        end
    end)

    it("skips the peer that just failed", function()
        local p = new_pool(3)
        for _ = 1, 10 do
            local failed = p.endpoints[p.next_index].addr
            local ep = rr:pick(p, failed)
            assert.are_not.equal(failed, ep.addr)
        end
    end)

    it("retries the only endpoint there is", function()
        local p = new_pool(1)
        local only = p.endpoints[1]
        assert.are.equal(only, rr:pick(p, only.addr))
    end)
end)

describe("pool", function()
    it("parses IPv4 and IPv6 endpoints and names them by md5", function()
        local p = pool.new({ "10.0.0.1:8080", "[fd00::1]:80" }, stub.md5, stub.random(1))
        local v4, v6 = p.endpoints[1], p.endpoints[2]
        assert.are.same({ addr = "10.0.0.1:8080", host = "10.0.0.1", port = 8080, id = stub.md5("10.0.0.1:8080"):sub(1, 16) }, v4)
        assert.are.equal("fd00::1", v6.host)
        assert.are.equal(80, v6.port)
        assert.are.equal(v6, p.by_id[v6.id])
    end)

    it("is empty for an empty list", function()
        local p = pool.new({}, stub.md5, stub.random(1))
        assert.are.equal(0, #p.endpoints)
        assert.are.equal(1, p.next_index)
    end)
end)
