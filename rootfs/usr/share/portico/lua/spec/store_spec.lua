local stub = require("spec.helpers.ngx")
local cjson = require("cjson.safe")
local document = require("portico.document")
local store_module = require("portico.balancer.store")

local good = cjson.encode({
    backends = { ["ns.app.80"] = { "10.0.0.1:80", "10.0.0.2:80" }, ["ns.v2.80"] = { "10.0.1.1:80" } },
    routes = {
        r1 = { backend = "ns.app.80" },
        r2 = { backend = "ns.app.80", balance = "ewma", hashBy = "$request_uri",
            canary = { backend = "ns.v2.80", source = "ns/v2", weight = 10, weightTotal = 100, header = "X-Canary" },
            affinity = { mode = "balanced", name = "route", path = "/" } },
        r3 = { backend = "ns.app.80", balance = "least_conn" },
    },
    generation = "2",
})

describe("store", function()
    local shared, var, logged, store, algorithms

    before_each(function()
        shared = stub.shared_dict()
        var = {}
        local log
        log, logged = stub.logger()
        algorithms = { round_robin = { name = "rr" }, least_conn = { name = "lc" }, ewma = { name = "ewma" } }
        store = store_module.new({
            shared = shared,
            decode = cjson.decode,
            check = function(body)
                return document.decode(body, stub.re_find)
            end,
            md5 = stub.md5,
            random = stub.random(5),
            var = var,
            algorithms = algorithms,
            log = function(...)
                log("error", ...)
            end,
        })
    end)

    -- held is what the shared dict holds.
    local function held()
        return { config = shared:get("config"), md5 = shared:get("md5"), version = shared:get("version") }
    end

    it("holds nothing before the first push", function()
        assert.are.equal("", store:stored_md5())
        local route, backends = store:route("r1")
        assert.is_nil(route)
        assert.are.same({}, backends)
    end)

    it("stores a good push for every worker and answers its md5", function()
        local md5 = store:push(good)
        assert.are.equal(stub.md5(good), md5)
        assert.are.same({ config = good, md5 = md5, version = 1 }, held())
        assert.are.equal(md5, store:stored_md5())
        store:push(good)
        assert.are.equal(2, shared:get("version"))
    end)

    it("builds pools and compiled routes once per version", function()
        store:push(good)
        local r2, backends = store:route("r2")
        assert.are.equal(2, #backends["ns.app.80"].endpoints)
        assert.are.equal("10.0.0.1", backends["ns.app.80"].endpoints[1].host)
        assert.are.equal(algorithms.ewma, r2.algorithm)
        assert.are.same({ "request_uri" }, r2.hash_vars)
        assert.are.equal("http_x_canary", r2.canary.header_var)
        assert.are.equal("cookie_route", r2.affinity.cookie_var)
        assert.are.equal(algorithms.round_robin, (store:route("r1")).algorithm)
        assert.are.equal(algorithms.least_conn, (store:route("r3")).algorithm)
        -- The same version is not decoded again: same tables, same cursor.
        local pool = backends["ns.app.80"]
        pool.next_index = 2
        local again, backends_again = store:route("r2")
        assert.are.equal(r2, again)
        assert.are.equal(pool, backends_again["ns.app.80"])
        assert.are.equal(2, pool.next_index)
        -- A new push is.
        store:push(good)
        local fresh = store:route("r2")
        assert.are_not.equal(r2, fresh)
    end)

    describe("a bad push", function()
        local bad = {
            ["not JSON"] = '{"backends":',
            ["missing generation"] = '{"backends":{},"routes":{}}',
            ["backends of the wrong type"] = '{"backends":"10.0.0.1:80","routes":{},"generation":"3"}',
            ["an endpoint of the wrong type"] = '{"backends":{"p":[80]},"routes":{},"generation":"3"}',
            ["a route to a missing pool"] = '{"backends":{},"routes":{"r1":{"backend":"gone"}},"generation":"3"}',
            ["a weight of the wrong type"] = '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"p","source":"a/b","weight":"10","weightTotal":100}}},"generation":"3"}',
            ["a huge list"] = '{"backends":{"p":[' .. string.rep('"10.0.0.1:80",', document.MAX_ENDPOINTS) .. '"10.0.0.1:80"]},"routes":{},"generation":"3"}',
        }
        for name, body in pairs(bad) do
            it("with " .. name .. " is refused and the routes in place stay", function()
                store:push(good)
                local route, backends = store:route("r1")
                local before = held()
                local md5, status, err = store:push(body)
                assert.is_nil(md5)
                assert.are.equal(400, status)
                assert.is_string(err)
                assert.are.same(before, held())
                local after, backends_after = store:route("r1")
                assert.are.equal(route, after)
                assert.are.equal(backends, backends_after)
            end)
        end
    end)

    it("reports a push it cannot store and changes nothing", function()
        store:push(good)
        local before = held()
        shared.set = function()
            return false, "no memory"
        end
        local next_generation = good:gsub('"2"', '"3"')
        local md5, status, err = store:push(next_generation)
        assert.is_nil(md5)
        assert.are.equal(500, status)
        assert.are.equal("no memory", err)
        assert.are.same(before, held())
    end)

    it("keeps its last good view when the stored document is unusable", function()
        store:push(good)
        local route = store:route("r1")
        -- Nothing but push writes the dict, after checking; this is what a
        -- bug there would look like.
        shared:set("config", "{not json")
        shared:incr("version", 1, 0)
        for _ = 1, 3 do
            assert.are.equal(route, (store:route("r1")))
        end
        assert.are.equal(1, #logged, "logged once per version, not per request")
        assert.is_truthy(logged[1]:find("keeping the last good one", 1, true))
        -- The next good push takes effect.
        store:push(good)
        assert.are_not.equal(route, (store:route("r1")))
    end)

    it("skips entries of the wrong type in what it stores", function()
        -- push never lets such a document in; the view must not fail on one.
        shared:set("config", '{"backends":{"p":["10.0.0.1:80",7],"q":"x"},"routes":{"r1":{"backend":"p"},"r2":"p","r3":{}}}')
        shared:incr("version", 1, 0)
        local route, backends = store:route("r1")
        assert.are.equal("p", route.backend)
        assert.are.equal(1, #backends.p.endpoints)
        assert.is_nil(backends.q)
        assert.is_nil((store:route("r2")))
        assert.is_nil((store:route("r3")))
    end)

    it("routes each worker by the generation of its config during a reload", function()
        store:push(cjson.encode({
            backends = { old = { "10.0.0.1:80" }, new = { "10.0.0.2:80" } },
            routes = { r1 = { backend = "new" } },
            generation = "7",
            previous = { generation = "6", routes = { r1 = { backend = "old" } } },
        }))
        var.portico_generation = "6"
        assert.are.equal("old", (store:route("r1")).backend)
        var.portico_generation = "7"
        assert.are.equal("new", (store:route("r1")).backend)
        -- After the reload the controller pushes the new generation alone.
        store:push(cjson.encode({ backends = { new = { "10.0.0.2:80" } }, routes = { r1 = { backend = "new" } }, generation = "7" }))
        var.portico_generation = "6"
        assert.are.equal("new", (store:route("r1")).backend)
    end)

    describe("seed", function()
        it("fills an empty dict, routes its own generation and still asks for a push", function()
            assert.are.equal(stub.md5(good), store:seed(good))
            assert.are.equal("", store:stored_md5(), "the controller pushes all the same")
            var.portico_generation = "2"
            assert.are.equal("ns.app.80", (store:route("r1")).backend)
            assert.are.equal(stub.md5(good), store:push(good))
            assert.are.equal(stub.md5(good), store:stored_md5())
            assert.is_nil(shared:get("seeded"))
        end)

        it("routes nothing for another generation's config until a push", function()
            store:seed(good)
            var.portico_generation = "3"
            assert.is_nil((store:route("r1")))
            store:push(good)
            assert.are.equal("ns.app.80", (store:route("r1")).backend, "a pushed document is the controller's word")
        end)

        it("uses the previous routes of a reload's document for the previous generation", function()
            store:seed(cjson.encode({
                backends = { old = { "10.0.0.1:80" }, new = { "10.0.0.2:80" } },
                routes = { r1 = { backend = "new" } },
                generation = "7",
                previous = { generation = "6", routes = { r1 = { backend = "old" } } },
            }))
            var.portico_generation = "6"
            assert.are.equal("old", (store:route("r1")).backend)
        end)

        it("leaves a dict that holds data alone (a reload)", function()
            store:push(good)
            local before = held()
            assert.is_nil(store:seed(cjson.encode({ backends = {}, routes = {}, generation = "9" })))
            assert.are.same(before, held())
            assert.is_nil(shared:get("seeded"))
        end)

        it("refuses a bad document and stores nothing", function()
            local md5, err = store:seed('{"backends":{"p":["nowhere"]},"routes":{},"generation":"1"}')
            assert.is_nil(md5)
            assert.is_truthy(err)
            assert.are.same({}, held())
        end)
    end)
end)
