local stub = require("spec.helpers.ngx")
local canary = require("portico.balancer.canary")

describe("canary", function()
    local var, decider
    before_each(function()
        var = {}
        decider = canary.new({ var = var, re_find = stub.re_find, random = stub.random(11) })
    end)

    local function spec(fields)
        fields.backend = fields.backend or "canary"
        return canary.compile(fields)
    end

    -- request sets the request's header X-Canary and cookie "canary".
    local function request(header, cookie)
        for k in pairs(var) do
            var[k] = nil
        end
        var.http_x_canary = header
        var.cookie_canary = cookie
    end

    describe("compile", function()
        it("reads the header and the cookie from their nginx variables", function()
            local c = spec({ header = "X-Canary-Flag", cookie = "use_v2", weight = 5, weightTotal = 50 })
            assert.are.equal("http_x_canary_flag", c.header_var)
            assert.are.equal("cookie_use_v2", c.cookie_var)
            assert.are.equal(5, c.weight)
            assert.are.equal(50, c.weightTotal)
        end)

        it("defaults to weight 0 out of 100", function()
            local c = spec({})
            assert.is_nil(c.header_var)
            assert.is_nil(c.cookie_var)
            assert.are.equal(0, c.weight)
            assert.are.equal(100, c.weightTotal)
            assert.are.equal(100, spec({ weightTotal = 0 }).weightTotal)
        end)
    end)

    -- The rules in ingress-nginx's order; the same table as e2e/local's
    -- TestCanaryByHeader, which checks them on real traffic (and the PCRE
    -- pattern as the controller prints it). Weights 0 and 100 make each
    -- case deterministic.
    describe("order of decision", function()
        local specs = {
            header = { header = "X-Canary", weight = 0 },
            header_all = { header = "X-Canary", weight = 100 },
            value = { header = "X-Canary", headerValue = "v2", weight = 0 },
            value_all = { header = "X-Canary", headerValue = "v2", weight = 100 },
            -- A Lua pattern stands in for PCRE here (helpers/ngx.lua).
            pattern = { header = "X-Canary", headerPattern = "^v2%-beta%d+$", weight = 0 },
            pattern_all = { header = "X-Canary", headerPattern = "^v2%-beta%d+$", weight = 100 },
            cookie = { cookie = "canary", weight = 0 },
            cookie_all = { cookie = "canary", weight = 100 },
            header_cookie = { header = "X-Canary", cookie = "canary", weight = 0 },
            header_cookie_all = { header = "X-Canary", cookie = "canary", weight = 100 },
        }
        local cases = {
            { "header always", "header", "always", nil, true },
            { "header never", "header", "never", nil, false },
            { "no header, weight 0", "header", nil, nil, false },
            { "other header value, weight 0", "header", "maybe", nil, false },
            { "header never beats weight 100", "header_all", "never", nil, false },
            { "no header, weight 100", "header_all", nil, nil, true },
            { "other header value, weight 100", "header_all", "maybe", nil, true },

            { "header value equal", "value", "v2", nil, true },
            { "header value different, weight 0", "value", "v3", nil, false },
            { "always is just another value with header-value", "value", "always", nil, false },
            { "header value different, weight 100", "value_all", "v3", nil, true },
            { "never is just another value with header-value", "value_all", "never", nil, true },

            { "pattern matches", "pattern", "v2-beta1", nil, true },
            { "pattern does not match, weight 0", "pattern", "v2-stable", nil, false },
            { "pattern is anchored", "pattern", "xv2-beta1", nil, false },
            { "always is just another value with a pattern", "pattern", "always", nil, false },
            { "pattern does not match, weight 100", "pattern_all", "v2-stable", nil, true },
            { "never is just another value with a pattern", "pattern_all", "never", nil, true },

            { "cookie always", "cookie", nil, "always", true },
            { "cookie never, weight 0", "cookie", nil, "never", false },
            { "other cookie value, weight 0", "cookie", nil, "yes", false },
            { "cookie never beats weight 100", "cookie_all", nil, "never", false },
            { "no cookie, weight 100", "cookie_all", nil, nil, true },

            { "header never beats cookie always", "header_cookie", "never", "always", false },
            { "header always beats cookie never", "header_cookie", "always", "never", true },
            { "cookie decides without the header", "header_cookie", nil, "always", true },
            { "cookie decides after another header value", "header_cookie", "maybe", "always", true },
            { "cookie never beats weight 100 after another header value", "header_cookie_all", "maybe", "never", false },
        }
        for _, case in ipairs(cases) do
            local name, which, header, cookie, want = case[1], case[2], case[3], case[4], case[5]
            it(name, function()
                local c = spec(specs[which])
                request(header, cookie)
                for _ = 1, 10 do
                    assert.are.equal(want, decider:use(c))
                end
            end)
        end

        it("passes the pattern to ngx.re.find with the flags jo (JIT, compiled once)", function()
            local seen
            local d = canary.new({ var = var, random = stub.random(1), re_find = function(subject, pattern, flags)
                seen = { subject, pattern, flags }
                return 1, 1
            end })
            request("v2-beta1")
            assert.is_true(d:use(spec({ header = "X-Canary", headerPattern = "(*LIMIT_MATCH=100000)\\Av2\\z", weight = 0 })))
            assert.are.same({ "v2-beta1", "(*LIMIT_MATCH=100000)\\Av2\\z", "jo" }, seen)
        end)
    end)

    describe("weight", function()
        local function share(c, draws)
            local hits = 0
            for _ = 1, draws do
                if decider:use(c) then
                    hits = hits + 1
                end
            end
            return hits / draws
        end

        it("sends about weight / weightTotal of the requests", function()
            request(nil, nil)
            for _, w in ipairs({ { 10, 100 }, { 50, 100 }, { 1, 3 }, { 250, 1000 }, { 90, 100 } }) do
                local want = w[1] / w[2]
                local got = share(spec({ weight = w[1], weightTotal = w[2] }), 20000)
                -- 20,000 draws: the standard deviation is at most 0.0036.
                assert.is_true(math.abs(got - want) < 0.015, string.format("weight %d of %d: share %.4f", w[1], w[2], got))
            end
        end)

        it("sends none at weight 0 and all at the total", function()
            request(nil, nil)
            assert.are.equal(0, share(spec({ weight = 0 }), 2000))
            assert.are.equal(1, share(spec({ weight = 100 }), 2000))
            assert.are.equal(1, share(spec({ weight = 7, weightTotal = 7 }), 2000))
        end)

        it("applies after header and cookie rules that do not decide", function()
            request("maybe", "maybe")
            local got = share(spec({ header = "X-Canary", cookie = "canary", weight = 30 }), 20000)
            assert.is_true(math.abs(got - 0.3) < 0.015, "share " .. got)
        end)
    end)
end)
