-- portico/balancer.lua wires the modules to nginx's phases. These specs
-- drive it as the hooks do, with a fake `ngx` (helpers/ngx.lua) and a fake
-- ngx.balancer that records the peers set.
local stub = require("spec.helpers.ngx")
local cjson = require("cjson.safe")

describe("portico.balancer", function()
    local fake, peers, balancer, internal

    before_each(function()
        fake = stub.new()
        _G.ngx = fake
        peers = stub.fake_ngx_balancer()
        package.loaded["ngx.balancer"] = peers
        for name in pairs(package.loaded) do
            if name:match("^portico") then
                package.loaded[name] = nil
            end
        end
        balancer = require("portico.balancer")
        internal = balancer._internal
    end)

    after_each(function()
        _G.ngx = nil
        package.loaded["ngx.balancer"] = nil
    end)

    -- post sends body to the configure handler as the controller does.
    local function configure(method, body, from_file)
        fake.reset()
        local path
        if from_file then
            path = os.tmpname()
            local f = assert(io.open(path, "wb"))
            f:write(body)
            f:close()
        end
        fake.req = {
            get_method = function() return method end,
            read_body = function() end,
            get_body_data = function() return not from_file and body or nil end,
            get_body_file = function() return path end,
        }
        balancer.configure()
        if path then
            os.remove(path)
        end
        return fake.status or (#fake.exits > 0 and fake.exits[1]) or 200, fake.said[1]
    end

    local function push(doc)
        return configure("POST", type(doc) == "string" and doc or cjson.encode(doc))
    end

    -- attempt runs the balancer phase once for the current request and
    -- returns the peer it set.
    local function attempt()
        local before = #peers.peers
        balancer.balance()
        return peers.peers[before + 1]
    end

    -- request starts a new request with these variables and returns its
    -- first attempt's peer.
    local function request(vars)
        fake.reset(vars)
        return attempt()
    end

    local A, B, C = "10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"
    local UNAVAILABLE = "127.0.0.2:10246"

    describe("configure", function()
        local good = { backends = { p = { A } }, routes = { r1 = { backend = "p" } }, generation = "1" }

        it("stores a good push and answers its md5, on POST and GET", function()
            local body = cjson.encode(good)
            assert.are.same({ 200, stub.md5(body) }, { push(body) })
            assert.are.same({ 200, stub.md5(body) }, { configure("GET") })
        end)

        it("reads a body nginx buffered to a file", function()
            local body = cjson.encode(good)
            assert.are.same({ 200, stub.md5(body) }, { configure("POST", body, true) })
        end)

        it("refuses a bad push with 400 and the reason, and keeps serving", function()
            local body = cjson.encode(good)
            push(body)
            assert.are.equal(A, request({ portico_route = "r1" }))
            local status, said = push('{"backends":{"p":["nowhere"]},"routes":{},"generation":"2"}')
            assert.are.equal(400, status)
            assert.are.equal("refused: backends.p: entry 1 is not ip:port", said)
            assert.is_truthy(fake.logged[#fake.logged]:find("balancer data refused", 1, true))
            assert.are.same({ 200, stub.md5(body) }, { configure("GET") })
            assert.are.equal(A, request({ portico_route = "r1" }))
        end)

        it("answers other methods 405", function()
            assert.are.equal(405, (configure("PUT", "{}")))
        end)
    end)

    describe("balance", function()
        before_each(function()
            push({
                backends = { p = { A, B, C }, one = { A }, empty = {}, v2 = { "10.0.9.1:80", "10.0.9.2:80" }, fallback = { "10.0.8.1:80" } },
                routes = {
                    rr = { backend = "p" },
                    hash = { backend = "p", hashBy = "$request_uri" },
                    lc = { backend = "p", balance = "least_conn" },
                    ewma = { backend = "p", balance = "ewma" },
                    sticky = { backend = "p", affinity = { mode = "balanced", name = "route", path = "/" } },
                    canary = { backend = "p", hashBy = "$request_uri",
                        affinity = { mode = "persistent", name = "route", path = "/" },
                        canary = { backend = "v2", source = "ns/v2", weight = 0, weightTotal = 100, header = "X-Canary" } },
                    down = { backend = "empty" },
                    down_fallback = { backend = "empty", fallback = "fallback" },
                },
                generation = "1",
            })
        end)

        it("sets the peer of the route's backend, round robin by default, with one more try", function()
            local counts = {}
            for _ = 1, 30 do
                local peer = request({ portico_route = "rr", portico_unavailable = UNAVAILABLE })
                counts[peer] = (counts[peer] or 0) + 1
            end
            assert.are.same({ [A] = 10, [B] = 10, [C] = 10 }, counts)
            assert.are.equal(30, peers.more_tries)
        end)

        it("never retries on the peer that just failed", function()
            for _ = 1, 10 do
                local first = request({ portico_route = "rr" })
                local second = attempt()
                local third = attempt()
                assert.are_not.equal(first, second)
                assert.are_not.equal(second, third)
            end
        end)

        it("hashes by the route's variables", function()
            local peer = request({ portico_route = "hash", request_uri = "/item/7" })
            for _ = 1, 10 do
                assert.are.equal(peer, request({ portico_route = "hash", request_uri = "/item/7" }))
            end
            local seen = {}
            for i = 1, 60 do
                seen[request({ portico_route = "hash", request_uri = "/item/" .. i })] = true
            end
            assert.is_truthy(seen[A] and seen[B] and seen[C])
        end)

        it("counts least_conn requests until they are logged, and moves the count on a retry", function()
            local inflight = internal.least_conn.inflight
            local first = request({ portico_route = "lc" })
            local ctx = fake.ctx
            assert.are.equal(1, inflight[first])
            local second = attempt()
            assert.are.equal(0, inflight[first])
            assert.are.equal(1, inflight[second])
            fake.ctx = ctx
            balancer.log()
            assert.are.equal(0, inflight[second])
            -- Other routes are not counted.
            local snapshot = { [A] = inflight[A], [B] = inflight[B], [C] = inflight[C] }
            request({ portico_route = "rr" })
            assert.are.same(snapshot, { [A] = inflight[A], [B] = inflight[B], [C] = inflight[C] })
            balancer.log()
            assert.are.same(snapshot, { [A] = inflight[A], [B] = inflight[B], [C] = inflight[C] })
        end)

        it("sends least_conn requests to the endpoint with fewest in flight", function()
            local open = {}
            for _ = 1, 3 do
                open[#open + 1] = request({ portico_route = "lc" })
            end
            table.sort(open)
            assert.are.same({ A, B, C }, open)
            -- B's request ends; the next goes there.
            for _, peer in ipairs(open) do
                if peer == B then
                    internal.least_conn:release(B)
                end
            end
            assert.are.equal(B, request({ portico_route = "lc" }))
        end)

        it("feeds ewma from the log phase and prefers the fast endpoint", function()
            local rtt = { [A] = "0.500", [B] = "0.400", [C] = "0.010" }
            for _ = 1, 30 do
                local peer = request({ portico_route = "ewma" })
                fake.var.upstream_header_time = rtt[peer]
                balancer.log()
            end
            assert.is_truthy(internal.ewma.stats[C])
            for _ = 1, 20 do
                local peer = request({ portico_route = "ewma" })
                assert.are_not.equal(A, peer, "the slowest endpoint never wins a draw")
            end
            -- Only ewma routes learn, and only from answers with a time.
            local before = internal.ewma.stats[A].value
            request({ portico_route = "rr" })
            fake.var.upstream_header_time = "9"
            balancer.log()
            request({ portico_route = "ewma" })
            fake.var.upstream_header_time = nil
            balancer.log()
            assert.are.equal(before, internal.ewma.stats[A].value)
        end)

        it("sets the affinity cookie after the backend's, and keeps the session on its endpoint", function()
            local peer = request({ portico_route = "sticky", request_id = "00000000000000000000000000000001" })
            local cookie = fake.ctx.portico_cookie
            assert.is_truthy(cookie:match("^route=%x+; Path=/; HttpOnly$"))
            fake.header["Set-Cookie"] = "backend=1"
            balancer.header_filter()
            assert.are.same({ "backend=1", cookie }, fake.header["Set-Cookie"])
            local key = cookie:match("^route=(%x+)")
            for _ = 1, 10 do
                assert.are.equal(peer, request({ portico_route = "sticky", cookie_route = key }))
                assert.is_nil(fake.ctx.portico_cookie)
                balancer.header_filter()
                assert.is_nil(fake.header["Set-Cookie"])
            end
        end)

        it("balances the canary's backend round robin, without the main route's hash or cookie", function()
            local counts = {}
            for _ = 1, 10 do
                local peer = request({ portico_route = "canary", http_x_canary = "always", request_uri = "/same" })
                assert.is_nil(fake.ctx.portico_cookie)
                counts[peer] = (counts[peer] or 0) + 1
            end
            assert.are.same({ ["10.0.9.1:80"] = 5, ["10.0.9.2:80"] = 5 }, counts)
            local main = request({ portico_route = "canary", request_uri = "/same" })
            assert.is_truthy(main == A or main == B or main == C)
            assert.is_string(fake.ctx.portico_cookie)
        end)

        it("sends a route without endpoints to its default backend", function()
            assert.are.equal("10.0.8.1:80", request({ portico_route = "down_fallback" }))
        end)

        it("sends a route without endpoints to the 503 server", function()
            assert.are.equal(UNAVAILABLE, request({ portico_route = "down", portico_unavailable = UNAVAILABLE }))
            assert.is_truthy(fake.logged[#fake.logged]:find("no ready endpoints for empty", 1, true))
        end)

        it("sends a route it does not know yet to the 503 server", function()
            assert.are.equal(UNAVAILABLE, request({ portico_route = "r404", portico_unavailable = UNAVAILABLE }))
            assert.is_truthy(fake.logged[#fake.logged]:find("no route r404 in the dynamic configuration yet", 1, true))
        end)

        it("warns once per 10 s about requests without data, then with their count", function()
            local before = #fake.logged
            for _ = 1, 500 do
                assert.are.equal(UNAVAILABLE, request({ portico_route = "r404", portico_unavailable = UNAVAILABLE }))
            end
            assert.are.equal(before + 1, #fake.logged, "one line for 500 requests")
            fake.clock.t = fake.clock.t + 10
            request({ portico_route = "r404", portico_unavailable = UNAVAILABLE })
            -- The fake ngx.log joins its arguments with spaces; nginx does not.
            local line = fake.logged[before + 2]
            assert.is_truthy(line:find("no route r404 in the dynamic configuration yet", 1, true), line)
            assert.is_truthy(line:find("(and  499  more like it since it was logged  10 s ago)", 1, true), line)
            assert.are.equal(before + 3, #fake.logged)
        end)

        it("fails a location that reaches the balancer without a route", function()
            assert.is_nil(request({}))
            assert.are.same({ fake.ERROR }, fake.exits)
        end)
    end)

    describe("rewrite", function()
        before_each(function()
            push({ backends = { p = { A }, empty = {} }, routes = { r1 = { backend = "p" }, down = { backend = "empty" } }, generation = "1" })
        end)

        it("chooses the backend for the balancer phase", function()
            fake.reset({ portico_route = "r1" })
            balancer.rewrite()
            assert.are.same({}, fake.exits)
            fake.var.portico_route = nil -- the choice is kept in ctx
            assert.are.equal(A, attempt())
        end)

        it("answers 503 itself when there is no endpoint", function()
            fake.reset({ portico_route = "down" })
            balancer.rewrite()
            assert.are.same({ 503 }, fake.exits)
        end)

        it("leaves subrequests alone", function()
            fake.reset({ portico_route = "down" })
            fake.is_subrequest = true
            balancer.rewrite()
            assert.are.same({}, fake.exits)
            assert.is_nil(fake.ctx.portico_route_data)
        end)
    end)

    it("routes by the worker's config generation during a reload", function()
        push({
            backends = { old = { A }, new = { B } },
            routes = { r1 = { backend = "new" } },
            generation = "2",
            previous = { generation = "1", routes = { r1 = { backend = "old" } } },
        })
        assert.are.equal(A, request({ portico_route = "r1", portico_generation = "1" }))
        assert.are.equal(B, request({ portico_route = "r1", portico_generation = "2" }))
    end)
end)
