local stub = require("spec.helpers.ngx")
local pool = require("portico.balancer.pool")
local chash = require("portico.balancer.chash")
local round_robin = require("portico.balancer.round_robin")
local affinity = require("portico.balancer.affinity")

-- A request's affinity pick: the endpoint and the Set-Cookie value (nil
-- when the client's cookie stays as it is).
describe("affinity", function()
    local clock, var, ch, rr, sessions, p

    local function route(spec)
        spec.name = spec.name or "route"
        return { backend = "pool", affinity = affinity.compile(spec) }
    end

    before_each(function()
        clock = stub.clock(1700000000)
        var = { request_id = "0123456789abcdef0123456789abcdef" }
        ch = chash.new({ md5_bin = stub.md5_bin, var = var })
        rr = round_robin.new()
        sessions = affinity.new({
            chash = ch,
            policy = function(_, pl, exclude)
                return rr:pick(pl, exclude)
            end,
            md5 = stub.md5,
            now = clock.now,
            random = stub.random(3),
            var = var,
            time = clock.time,
            cookie_time = stub.cookie_time,
        })
        p = pool.new(stub.endpoints(4), stub.md5, stub.random(1))
    end)

    -- value returns the cookie value of a Set-Cookie text.
    local function value(set_cookie)
        return set_cookie:match("^[^=]+=([^;]*)")
    end

    describe("Set-Cookie", function()
        it("carries every attribute, in order", function()
            local r = route({ mode = "balanced", name = "route", path = "/shop", domain = "example.com",
                maxAge = 3600, expires = 7200, secure = true, sameSite = "Strict" })
            assert.are.equal("route=v1; Path=/shop; Domain=example.com; Max-Age=3600; "
                .. "Expires=Wed, 15-Nov-2023 00:13:20 GMT; Secure; SameSite=Strict; HttpOnly",
                sessions:cookie(r.affinity, "v1"))
        end)

        it("leaves out what is not set", function()
            local r = route({ mode = "balanced", name = "INGRESSCOOKIE", path = "", domain = "", maxAge = 0,
                expires = 0, secure = false, sameSite = "" })
            assert.are.equal("INGRESSCOOKIE=v1; HttpOnly", sessions:cookie(r.affinity, "v1"))
            r = route({ mode = "persistent", name = "s", path = "/" })
            assert.are.equal("s=v1; Path=/; HttpOnly", sessions:cookie(r.affinity, "v1"))
        end)

        it("prints large Max-Age values whole", function()
            local r = route({ mode = "balanced", name = "s", path = "/", maxAge = 9999999999 })
            assert.are.equal("s=v; Path=/; Max-Age=9999999999; HttpOnly", sessions:cookie(r.affinity, "v"))
        end)

        it("reads the cookie from its nginx variable", function()
            assert.are.equal("cookie_my_session", route({ mode = "balanced", name = "my_session" }).affinity.cookie_var)
        end)

        it("adds the cookie after the backend's own", function()
            assert.are.equal("a=1", affinity.add_set_cookie(nil, "a=1"))
            assert.are.same({ "b=2", "a=1" }, affinity.add_set_cookie("b=2", "a=1"))
            assert.are.same({ "b=2", "c=3", "a=1" }, affinity.add_set_cookie({ "b=2", "c=3" }, "a=1"))
        end)
    end)

    describe("persistent", function()
        local r
        before_each(function()
            r = route({ mode = "persistent", path = "/" })
        end)

        it("pins a new session to the endpoint the cookie names", function()
            local ep, set_cookie = sessions:pick(r, p, nil, nil)
            assert.are.equal("route=" .. ep.id .. "; Path=/; HttpOnly", set_cookie)
            for _ = 1, 20 do
                local again, again_cookie = sessions:pick(r, p, nil, value(set_cookie))
                assert.are.equal(ep, again)
                assert.is_nil(again_cookie)
            end
        end)

        it("starts a new session when the named endpoint is gone", function()
            local ep, set_cookie = sessions:pick(r, p, nil, "0000000000000000")
            assert.are.equal(ep.id, value(set_cookie))
        end)

        it("keeps the session on its endpoint across a failed attempt", function()
            local pinned = p.endpoints[2]
            local ep, set_cookie = sessions:pick(r, p, pinned.addr, pinned.id)
            assert.are_not.equal(pinned, ep)
            assert.is_nil(set_cookie, "without change-on-failure the cookie stays")
        end)

        it("moves the session with change-on-failure", function()
            r = route({ mode = "persistent", path = "/", changeOnFailure = true })
            local pinned = p.endpoints[2]
            local ep, set_cookie = sessions:pick(r, p, pinned.addr, pinned.id)
            assert.are_not.equal(pinned, ep)
            assert.are.equal(ep.id, value(set_cookie))
        end)

        it("never names the failed peer in a new session", function()
            for _, failed in ipairs(p.endpoints) do
                local ep, set_cookie = sessions:pick(r, p, failed.addr, nil)
                assert.are_not.equal(failed, ep)
                assert.are.equal(ep.id, value(set_cookie))
            end
        end)
    end)

    describe("balanced", function()
        local r
        before_each(function()
            r = route({ mode = "balanced", path = "/" })
        end)

        it("gives a new session a key that lands on the endpoint chosen", function()
            for i = 1, 50 do
                var.request_id = string.format("%032x", i)
                local ep, set_cookie = sessions:pick(r, p, nil, nil)
                local key = value(set_cookie)
                assert.are.equal(32, #key)
                assert.are.equal(ep, ch:pick(p, nil, key))
                -- The next request of the session returns with the key.
                local again, again_cookie = sessions:pick(r, p, nil, key)
                assert.are.equal(ep, again)
                assert.is_nil(again_cookie)
            end
        end)

        it("spreads new sessions over the endpoints", function()
            local counts = {}
            for i = 1, 400 do
                var.request_id = string.format("%032x", i)
                local ep = sessions:pick(r, p, nil, nil)
                counts[ep.addr] = (counts[ep.addr] or 0) + 1
            end
            for _, ep in ipairs(p.endpoints) do
                assert.is_true((counts[ep.addr] or 0) > 50, ep.addr .. " got " .. tostring(counts[ep.addr]) .. " of 400 sessions")
            end
        end)

        it("starts a new session for a cookie that is not a key", function()
            local ep, set_cookie = sessions:pick(r, p, nil, "short")
            assert.are.equal(ep, ch:pick(p, nil, value(set_cookie)))
        end)

        it("gives a new session on a retry a key of its own endpoint, never the failed one's", function()
            for i = 1, 50 do
                var.request_id = string.format("%032x", i)
                local failed = p.endpoints[i % 4 + 1]
                local ep, set_cookie = sessions:pick(r, p, failed.addr, nil)
                assert.are_not.equal(failed, ep)
                assert.are.equal(ep, ch:pick(p, nil, value(set_cookie)), "the key leads straight to the retry's endpoint")
            end
        end)

        it("keeps a session's key across a failed attempt", function()
            local key = stub.md5("session")
            local owner = ch:pick(p, nil, key)
            local ep, set_cookie = sessions:pick(r, p, owner.addr, key)
            assert.are_not.equal(owner, ep)
            assert.is_nil(set_cookie)
        end)

        it("moves the session with change-on-failure", function()
            r = route({ mode = "balanced", path = "/", changeOnFailure = true })
            local key = stub.md5("session")
            local owner = ch:pick(p, nil, key)
            local ep, set_cookie = sessions:pick(r, p, owner.addr, key)
            assert.are_not.equal(owner, ep)
            assert.are_not.equal(key, value(set_cookie))
            assert.are.equal(ep, ch:pick(p, nil, value(set_cookie)))
        end)

        it("moves only the sessions of an endpoint that goes", function()
            local list = stub.endpoints(4)
            local smaller = pool.new({ list[1], list[2], list[4] }, stub.md5, stub.random(1))
            for i = 1, 200 do
                local key = stub.md5("session-" .. i)
                local before = sessions:pick(r, p, nil, key)
                local after = sessions:pick(r, smaller, nil, key)
                if before.addr ~= list[3] then
                    assert.are.equal(before.addr, after.addr)
                end
            end
        end)
    end)
end)
