local stub = require("spec.helpers.ngx")
local cjson = require("cjson.safe")
local document = require("portico.document")

local function decode(body)
    return document.decode(body, stub.re_find)
end

-- bad are pushes that must be refused whole, with the part of the reason
-- that says where; pkg/nginx's TestDynamicPushRefusesBadDocuments pushes
-- the same list to real nginx.
local bad = {
    ["empty"] = { "", "empty body" },
    ["not JSON"] = { '{"backends":', "invalid JSON" },
    ["not an object"] = { "[1,2]", "document: unknown field 1" },
    ["a string"] = { '"x"', "invalid JSON" },
    ["no generation"] = { '{"backends":{},"routes":{}}', "generation" },
    ["generation not a string"] = { '{"backends":{},"routes":{},"generation":7}', "generation" },
    ["generation not digits"] = { '{"backends":{},"routes":{},"generation":"7a"}', "generation" },
    ["no backends"] = { '{"routes":{},"generation":"1"}', "backends: not an object" },
    ["backends a list"] = { '{"backends":["10.0.0.1:80"],"routes":{},"generation":"1"}', "backends: invalid pool name" },
    ["no routes"] = { '{"backends":{},"generation":"1"}', "routes: not an object" },
    ["pool not a list"] = { '{"backends":{"p":"10.0.0.1:80"},"routes":{},"generation":"1"}', "backends.p: not a list" },
    ["pool an object"] = { '{"backends":{"p":{"a":"10.0.0.1:80"}},"routes":{},"generation":"1"}', "backends.p: not a list" },
    ["endpoint without port"] = { '{"backends":{"p":["10.0.0.1"]},"routes":{},"generation":"1"}', "entry 1 is not ip:port" },
    ["endpoint a name"] = { '{"backends":{"p":["localhost:80"]},"routes":{},"generation":"1"}', "entry 1 is not ip:port" },
    ["endpoint port too big"] = { '{"backends":{"p":["10.0.0.1:70000"]},"routes":{},"generation":"1"}', "entry 1" },
    ["endpoint port 0"] = { '{"backends":{"p":["10.0.0.1:0"]},"routes":{},"generation":"1"}', "entry 1" },
    ["endpoint octet too big"] = { '{"backends":{"p":["10.0.0.256:80"]},"routes":{},"generation":"1"}', "entry 1" },
    ["endpoint a number"] = { '{"backends":{"p":[80]},"routes":{},"generation":"1"}', "entry 1" },
    ["second endpoint bad"] = { '{"backends":{"p":["10.0.0.1:80","[fd00::1::2]:80"]},"routes":{},"generation":"1"}', "entry 2" },
    ["pool name with space"] = { '{"backends":{"p q":[]},"routes":{},"generation":"1"}', "invalid pool name" },
    ["route to missing pool"] = { '{"backends":{},"routes":{"r1":{"backend":"gone"}},"generation":"1"}', "routes.r1: field backend" },
    ["route without backend"] = { '{"backends":{"p":[]},"routes":{"r1":{}},"generation":"1"}', "routes.r1: field backend" },
    ["route backend a number"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":1}},"generation":"1"}', "routes.r1: field backend" },
    ["route not an object"] = { '{"backends":{"p":[]},"routes":{"r1":"p"},"generation":"1"}', "routes.r1: not an object" },
    ["route id with slash"] = { '{"backends":{"p":[]},"routes":{"r/1":{"backend":"p"}},"generation":"1"}', "invalid route id" },
    ["unknown route field"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","weight":3}},"generation":"1"}', "unknown field weight" },
    ["unknown balance"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","balance":"random"}},"generation":"1"}', "field balance" },
    ["balance a bool"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","balance":true}},"generation":"1"}', "field balance" },
    ["hashBy not a variable"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","hashBy":"os.exit()"}},"generation":"1"}', "field hashBy" },
    ["hashBy five variables"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","hashBy":"$a$b$c$d$e"}},"generation":"1"}', "field hashBy" },
    ["affinity without name"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","affinity":{"mode":"balanced","path":"/"}}},"generation":"1"}', "field affinity" },
    ["affinity unknown mode"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","affinity":{"mode":"sticky","name":"a","path":"/"}}},"generation":"1"}', "field affinity" },
    ["cookie name with ;"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","affinity":{"mode":"balanced","name":"a;b","path":"/"}}},"generation":"1"}', "field affinity" },
    ["cookie path with CR"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","affinity":{"mode":"balanced","name":"a","path":"/\\r\\nX: y"}}},"generation":"1"}', "field affinity" },
    ["maxAge a string"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","affinity":{"mode":"balanced","name":"a","path":"/","maxAge":"60"}}},"generation":"1"}', "field affinity" },
    ["secure null"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","affinity":{"mode":"balanced","name":"a","path":"/","secure":null}}},"generation":"1"}', "field affinity" },
    ["canary to missing pool"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"q","source":"a/b","weight":1,"weightTotal":100}}},"generation":"1"}', "field canary" },
    ["canary weight fraction"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"p","source":"a/b","weight":0.5,"weightTotal":100}}},"generation":"1"}', "field canary" },
    ["canary weight negative"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"p","source":"a/b","weight":-1,"weightTotal":100}}},"generation":"1"}', "field canary" },
    ["canary weightTotal 0"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"p","source":"a/b","weight":1,"weightTotal":0}}},"generation":"1"}', "field canary" },
    -- "((" is no regex for PCRE and no Lua pattern either.
    ["canary pattern broken"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"p","source":"a/b","weight":1,"weightTotal":100,"header":"x","headerPattern":"(("}}},"generation":"1"}', "field canary" },
    ["canary header with space"] = { '{"backends":{"p":[]},"routes":{"r1":{"backend":"p","canary":{"backend":"p","source":"a/b","weight":1,"weightTotal":100,"header":"x y"}}},"generation":"1"}', "field canary" },
    ["previous not an object"] = { '{"backends":{},"routes":{},"generation":"2","previous":[]}', "previous" },
    ["previous bad route"] = { '{"backends":{},"routes":{},"generation":"2","previous":{"generation":"1","routes":{"r1":{"backend":"gone"}}}}', "previous.routes.r1" },
    ["previous without generation"] = { '{"backends":{},"routes":{},"generation":"2","previous":{"routes":{}}}', "previous.generation" },
    ["unknown top field"] = { '{"backends":{},"routes":{},"generation":"1","lua":"os.execute()"}', "unknown field lua" },
}

describe("document.decode", function()
    it("accepts a document with every field the controller writes", function()
        -- The shape of pkg/model's Dynamic, as TestDynamicPushAcceptsEveryField
        -- pushes it to real nginx.
        local body = cjson.encode({
            backends = {
                ["ns.app.80"] = { "10.0.0.7:8080", "[fd00::1]:8080", "[::ffff:10.0.0.1]:80" },
                ["ns.fallback.80"] = {},
                ["ns.canary.80"] = { "198.18.0.9:80" },
            },
            routes = {
                r1 = { backend = "ns.app.80", fallback = "ns.fallback.80", balance = "ewma", hashBy = "$request_uri$cookie_user",
                    affinity = { mode = "persistent", name = "route", path = "/app", domain = "example.com", maxAge = 9999999999,
                        expires = 60, secure = true, sameSite = "Lax", changeOnFailure = true },
                    canary = { backend = "ns.canary.80", source = "ns/canary", weight = 20, weightTotal = 100,
                        header = "X-Canary", headerValue = "yes", headerPattern = "^(a|b)%d+$", cookie = "canary" } },
                r2 = { backend = "ns.app.80", balance = "least_conn" },
            },
            generation = "3",
            previous = { generation = "2", routes = { r1 = { backend = "ns.app.80" } } },
        })
        local doc, err = decode(body)
        assert.is_nil(err)
        assert.are.equal("3", doc.generation)
        assert.are.equal("ewma", doc.routes.r1.balance)
        assert.are.equal(3, #doc.backends["ns.app.80"])
    end)

    it("accepts empty lists however JSON writes them", function()
        assert.is_truthy(decode('{"backends":{"p":[],"q":{}},"routes":{},"generation":"1"}'))
    end)

    for name, case in pairs(bad) do
        it("refuses " .. name, function()
            local doc, err = decode(case[1])
            assert.is_nil(doc)
            assert.is_truthy(err and err:find(case[2], 1, true), "reason " .. tostring(err) .. ", want it to say " .. case[2])
        end)
    end

    it("refuses a non-string body", function()
        assert.is_nil((decode(nil)))
        assert.is_nil((decode(42)))
    end)

    it("refuses a pool past the endpoint bound", function()
        local list = {}
        for i = 1, document.MAX_ENDPOINTS + 1 do
            list[i] = '"10.0.0.1:80"'
        end
        local body = '{"backends":{"p":[' .. table.concat(list, ",") .. ']},"routes":{},"generation":"1"}'
        local doc, err = decode(body)
        assert.is_nil(doc)
        assert.is_truthy(err:find("more than 65536 entries", 1, true), err)
        -- One fewer passes.
        body = '{"backends":{"p":[' .. table.concat(list, ",", 2) .. ']},"routes":{},"generation":"1"}'
        assert.is_truthy(decode(body))
    end)

    describe("with lowered bounds", function()
        -- The real bounds (200,000 pools, 1,000,000 routes) take too long to
        -- build here; the checks read them at each call.
        local pools, routes = document.MAX_POOLS, document.MAX_ROUTES
        after_each(function()
            document.MAX_POOLS, document.MAX_ROUTES = pools, routes
        end)

        it("refuses more pools than the bound", function()
            document.MAX_POOLS = 2
            local doc, err = decode('{"backends":{"a":[],"b":[],"c":[]},"routes":{},"generation":"1"}')
            assert.is_nil(doc)
            assert.is_truthy(err:find("more than 2 pools", 1, true), err)
        end)

        it("refuses more routes than the bound, in previous too", function()
            document.MAX_ROUTES = 1
            local doc, err = decode('{"backends":{"p":[]},"routes":{"a":{"backend":"p"},"b":{"backend":"p"}},"generation":"1"}')
            assert.is_nil(doc)
            assert.is_truthy(err:find("more than 1 routes", 1, true), err)
            doc, err = decode('{"backends":{"p":[]},"routes":{},"generation":"2","previous":{"generation":"1","routes":{"a":{"backend":"p"},"b":{"backend":"p"}}}}')
            assert.is_nil(doc)
            assert.is_truthy(err:find("previous.routes", 1, true), err)
        end)
    end)

    describe("endpoint", function()
        it("takes IPv4 and bracketed IPv6 with a port", function()
            for _, ok in ipairs({ "10.0.0.1:80", "255.255.255.255:65535", "[fd00::1]:8080", "[::1]:1", "[::ffff:10.0.0.1]:443" }) do
                assert.is_true(document.endpoint(ok), ok)
            end
        end)

        it("refuses names, bad ports and bad addresses", function()
            for _, no in ipairs({ "localhost:80", "10.0.0.1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:65536", "1.2.3:80",
                "01234.0.0.1:80", "fd00::1:80", "[fd00::1]", "[fd00:::1]:80", "[1::2::3]:80", "[g::1]:80", " 10.0.0.1:80", 80, "" }) do
                assert.is_false(document.endpoint(no), tostring(no))
            end
        end)
    end)
end)
