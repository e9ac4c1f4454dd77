local stub = require("spec.helpers.ngx")
local pool = require("portico.balancer.pool")
local ewma = require("portico.balancer.ewma")

local function close(want, got, what, tolerance)
    assert.is_true(math.abs(want - got) < (tolerance or 1e-12), string.format("%s: want %.15g, got %.15g", what or "value", want, got))
end

describe("ewma", function()
    local clock, ew, p
    before_each(function()
        clock = stub.clock(1000)
        ew = ewma.new({ now = clock.now, random = stub.random(42) })
        p = pool.new(stub.endpoints(2), stub.md5, stub.random(1))
    end)

    local function picks(n, on_pick)
        local counts = {}
        for _ = 1, n do
            local ep = ew:pick(p, nil)
            counts[ep.addr] = (counts[ep.addr] or 0) + 1
            if on_pick then
                on_pick(ep)
            end
        end
        return counts
    end

    describe("decay", function()
        it("takes the first sample as it is", function()
            ew:observe("a", 0.25)
            close(0.25, ew:score("a", 1000))
        end)

        it("lets a score fall by e every decay period without samples", function()
            ew:observe("a", 0.2)
            for _, dt in ipairs({ 0, 1, 5, 10, 20, 30, 60 }) do
                close(0.2 * math.exp(-dt / 10), ew:score("a", 1000 + dt), "after " .. dt .. " s")
            end
            close(0.2 / math.exp(1), ew:score("a", 1010), "after one decay period")
        end)

        it("weighs a new sample by the time since the last one", function()
            ew:observe("a", 0.3)
            clock.t = 1005
            ew:observe("a", 0.1)
            local w = math.exp(-5 / 10)
            close(0.3 * w + 0.1 * (1 - w), ew:score("a", 1005))
            -- Samples close together move the average little...
            local before = ew:score("a", 1005)
            clock.t = 1005.001
            ew:observe("a", 5)
            assert.is_true(ew:score("a", 1005.001) - before < 0.001)
            -- ...one after a long silence all but replaces it.
            clock.t = 1100
            ew:observe("a", 0.05)
            close(0.05, ew:score("a", 1100), "after 95 s", 1e-4)
        end)

        it("scores an endpoint without samples 0", function()
            assert.are.equal(0, ew:score("never-seen", 1000))
        end)

        it("uses the decay period it is given", function()
            local fast = ewma.new({ now = clock.now, random = stub.random(1), decay = 1 })
            fast:observe("a", 1)
            close(math.exp(-2), fast:score("a", 1002))
        end)
    end)

    describe("pick", function()
        it("prefers the fast endpoint", function()
            local fast, slow = p.endpoints[1], p.endpoints[2]
            ew:observe(fast.addr, 0.01)
            ew:observe(slow.addr, 0.5)
            local counts = picks(1000)
            assert.are.equal(1000, counts[fast.addr])
        end)

        it("never lets the slowest of three win a draw", function()
            p = pool.new(stub.endpoints(3), stub.md5, stub.random(1))
            local a, b, c = p.endpoints[1], p.endpoints[2], p.endpoints[3]
            ew:observe(a.addr, 0.01)
            ew:observe(b.addr, 0.5)
            ew:observe(c.addr, 0.02)
            local counts = picks(3000)
            assert.is_nil(counts[b.addr])
            -- a wins every draw it is in, c only those against b.
            assert.is_true(counts[a.addr] > counts[c.addr] * 1.5, "fastest " .. counts[a.addr] .. ", middle " .. counts[c.addr])
        end)

        it("tries a new endpoint first", function()
            local known, new = p.endpoints[1], p.endpoints[2]
            ew:observe(known.addr, 0.001)
            assert.are.equal(new, ew:pick(p, nil))
        end)

        it("brings a slow endpoint back once its score has decayed, then shares evenly", function()
            local fast, slow = p.endpoints[1], p.endpoints[2]
            ew:observe(slow.addr, 0.5)
            ew:observe(fast.addr, 0.01)
            local answer = { [fast.addr] = 0.01, [slow.addr] = 0.01 } -- slow has recovered
            local function serve(ep)
                ew:observe(ep.addr, answer[ep.addr])
            end
            -- One request a second: within one decay period the slow one
            -- still scores 0.5 / e = 0.18, far above 0.01.
            for _ = 1, 10 do
                clock.t = clock.t + 1
                assert.are.equal(fast, ew:pick(p, nil))
                serve(fast)
            end
            -- The slow one wins a draw once 0.5 * exp(-t / 10) falls below
            -- the fast one's score a second after its last sample,
            -- 0.01 * exp(-1 / 10): from t = 41 s on.
            local want = math.floor(10 * math.log(0.5 / (0.01 * math.exp(-0.1)))) + 1
            assert.are.equal(41, want)
            local first_back
            for s = 11, 60 do
                clock.t = 1000 + s
                local ep = ew:pick(p, nil)
                serve(ep)
                if ep == slow then
                    first_back = s
                    break
                end
            end
            assert.are.equal(want, first_back, "seconds until the slow endpoint is back")
            -- Both now answer in 10 ms, at 10 requests a second. The slow
            -- one's average only moves when it is picked, and each sample
            -- weighs by the time since its last one, so it takes a few
            -- decay periods to come down to the other's; then the picks
            -- alternate.
            local function run(n)
                local back = 0
                for _ = 1, n do
                    clock.t = clock.t + 0.1
                    local ep = ew:pick(p, nil)
                    if ep == slow then
                        back = back + 1
                    end
                    serve(ep)
                end
                return back
            end
            local settling = run(400)
            assert.is_true(settling > 40 and settling < 200, "the recovered endpoint got " .. settling .. " of 400 while settling")
            local even = run(200)
            assert.is_true(even >= 80 and even <= 120, "the recovered endpoint got " .. even .. " of 200")
        end)

        it("skips the peer that just failed", function()
            p = pool.new(stub.endpoints(3), stub.md5, stub.random(1))
            local best = p.endpoints[1]
            ew:observe(best.addr, 0.001)
            ew:observe(p.endpoints[2].addr, 1)
            ew:observe(p.endpoints[3].addr, 1)
            for _ = 1, 200 do
                assert.are_not.equal(best, ew:pick(p, best.addr))
            end
        end)

        it("returns the only endpoint there is", function()
            p = pool.new(stub.endpoints(1), stub.md5, stub.random(1))
            assert.are.equal(p.endpoints[1], ew:pick(p, p.endpoints[1].addr))
        end)
    end)
end)
