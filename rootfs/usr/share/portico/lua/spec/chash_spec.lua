local stub = require("spec.helpers.ngx")
local pool = require("portico.balancer.pool")
local chash = require("portico.balancer.chash")

local function new_pool(list)
    return pool.new(list, stub.md5, stub.random(1))
end

local function keys(n)
    local list = {}
    for i = 1, n do
        list[i] = "/item/" .. i
    end
    return list
end

local function owners(ch, p, list)
    local out = {}
    for _, k in ipairs(list) do
        out[k] = ch:pick(p, nil, k).addr
    end
    return out
end

local function without(list, gone)
    local out = {}
    for _, v in ipairs(list) do
        if v ~= gone then
            out[#out + 1] = v
        end
    end
    return out
end

describe("chash", function()
    local var, ch
    before_each(function()
        var = {}
        ch = chash.new({ md5_bin = stub.md5_bin, var = var })
    end)

    it("places points and keys by the first 32 bits of their md5", function()
        assert.are.equal(0xd41d8cd9, ch.hash32(""))
        assert.are.equal(0x90015098, ch.hash32("abc"))
    end)

    it("builds 160 points per endpoint once per pool", function()
        local p = new_pool(stub.endpoints(3))
        local ring = ch:ring(p)
        assert.are.equal(480, #ring)
        for i = 2, #ring do
            assert.is_true(ring[i - 1][1] <= ring[i][1])
        end
        assert.are.equal(ring, ch:ring(p))
    end)

    it("sends a key to the same endpoint every time, whatever the pushed order", function()
        local list = stub.endpoints(5)
        local reversed = {}
        for i = #list, 1, -1 do
            reversed[#reversed + 1] = list[i]
        end
        local ks = keys(500)
        assert.are.same(owners(ch, new_pool(list), ks), owners(ch, new_pool(reversed), ks))
    end)

    it("gives each endpoint a fair share of keys", function()
        local p = new_pool(stub.endpoints(3))
        local counts = {}
        for _, owner in pairs(owners(ch, p, keys(6000))) do
            counts[owner] = (counts[owner] or 0) + 1
        end
        for _, ep in ipairs(p.endpoints) do
            local share = counts[ep.addr] / 6000
            assert.is_true(share > 0.25 and share < 0.42, ep.addr .. " owns " .. share)
        end
    end)

    it("moves only the removed endpoint's keys when one goes", function()
        local list = stub.endpoints(5)
        local ks = keys(3000)
        local before = owners(ch, new_pool(list), ks)
        local gone = list[3]
        local after = owners(ch, new_pool(without(list, gone)), ks)
        local moved = 0
        for _, k in ipairs(ks) do
            if before[k] == gone then
                assert.are_not.equal(gone, after[k])
                moved = moved + 1
            else
                assert.are.equal(before[k], after[k], "key " .. k .. " moved though its endpoint stayed")
            end
        end
        assert.is_true(moved > 0)
    end)

    it("moves about 1/n of the keys, all to the new endpoint, when one is added", function()
        local list = stub.endpoints(5)
        local ks = keys(3000)
        local before = owners(ch, new_pool(without(list, list[5])), ks)
        local after = owners(ch, new_pool(list), ks)
        local moved = 0
        for _, k in ipairs(ks) do
            if before[k] ~= after[k] then
                assert.are.equal(list[5], after[k], "key " .. k .. " moved between old endpoints")
                moved = moved + 1
            end
        end
        local share = moved / #ks
        assert.is_true(share > 0.13 and share < 0.27, "moved " .. share .. " of the keys, want about 1/5")
    end)

    it("retries a key where it would go without the failed endpoint", function()
        local list = stub.endpoints(5)
        local full = new_pool(list)
        for _, gone in ipairs(list) do
            local rest = new_pool(without(list, gone))
            for _, k in ipairs(keys(200)) do
                assert.are.equal(ch:pick(rest, nil, k).addr, ch:pick(full, gone, k).addr)
            end
        end
    end)

    it("retries the only endpoint there is", function()
        local p = new_pool(stub.endpoints(1))
        assert.are.equal(p.endpoints[1], ch:pick(p, p.endpoints[1].addr, "k"))
    end)

    it("wraps around past the last point", function()
        local p = new_pool(stub.endpoints(2))
        local ring = ch:ring(p)
        -- A key hashing past the last point belongs to the first point's owner;
        -- find one by trying keys.
        for i = 1, 100000 do
            local k = "wrap-" .. i
            if ch.hash32(k) > ring[#ring][1] then
                assert.are.equal(ring[1][2], ch:pick(p, nil, k))
                return
            end
        end
        error("no key hashed past the last point")
    end)

    describe("key", function()
        it("reads the hashBy variables once compiled", function()
            local names = chash.compile_key("$request_uri$cookie_user")
            assert.are.same({ "request_uri", "cookie_user" }, names)
            var.request_uri = "/a?b"
            var.cookie_user = "u1"
            assert.are.equal("/a?bu1", ch:key(names))
        end)

        it("counts an unset variable as empty", function()
            local names = chash.compile_key("$remote_addr$http_x_user$arg_id")
            var.http_x_user = "bob"
            assert.are.equal("bob", ch:key(names))
            assert.are.equal("", ch:key(chash.compile_key("$arg_missing")))
        end)
    end)
end)
