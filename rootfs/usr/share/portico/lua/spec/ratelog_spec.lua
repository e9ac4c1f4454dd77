local stub = require("spec.helpers.ngx")
local ratelog = require("portico.ratelog")

describe("ratelog", function()
    local clock, lines, limiter

    before_each(function()
        clock = stub.clock(1000)
        lines = {}
        limiter = ratelog.new({
            now = clock.now,
            period = 10,
            log = function(...)
                lines[#lines + 1] = table.concat({ ... })
            end,
        })
    end)

    it("logs a message once per period and then how many it left out", function()
        assert.is_true(limiter:warn("no route r1"))
        for _ = 1, 12488 do
            assert.is_false(limiter:warn("no route r1"))
        end
        assert.are.same({ "no route r1" }, lines)
        clock.t = clock.t + 10
        assert.is_true(limiter:warn("no route r1"))
        assert.are.same({ "no route r1", "no route r1 (and 12488 more like it since it was logged 10s ago)", "no route r1" }, lines)
    end)

    it("counts each message apart", function()
        limiter:warn("no route r1")
        limiter:warn("no route r2")
        limiter:warn("no route r1")
        assert.are.same({ "no route r1", "no route r2" }, lines)
    end)

    it("logs the count when the period ends even if the message does not come back", function()
        limiter:warn("a")
        limiter:warn("a")
        limiter:warn("a")
        clock.t = clock.t + 11
        limiter:warn("b")
        assert.are.same({ "a", "a (and 2 more like it since it was logged 11s ago)", "b" }, lines)
        assert.is_nil(limiter.seen["a"], "forgotten once logged")
    end)

    it("logs again at once after a quiet period", function()
        limiter:warn("a")
        clock.t = clock.t + 30
        assert.is_true(limiter:warn("a"))
        assert.are.same({ "a", "a" }, lines)
    end)
end)
