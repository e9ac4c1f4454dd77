local stub = require("spec.helpers.ngx")
local metrics = require("portico.metrics")

-- Two histograms with two time buckets and one size bucket keep the
-- layout small enough to write out: index 1 the count; request_duration
-- at 2 (count, sum, <=0.1, <=1, +Inf); bytes_sent at 7 (count, sum,
-- <=100, +Inf).
local CONFIG = "abc123;none;request_duration,bytes_sent;0.1,1;10;100"

local function new(dict, config)
    local cfg = assert(metrics.parse_config(config or CONFIG))
    local lines = {}
    local m = metrics.new(cfg, {
        shared = dict,
        log = function(...)
            lines[#lines + 1] = table.concat({ ... })
        end,
    })
    return m, lines
end

local function dumped(dict)
    return table.concat(metrics.dump(dict))
end

describe("metrics", function()
    describe("parse_config", function()
        it("reads the six fields", function()
            local cfg = assert(metrics.parse_config(CONFIG))
            assert.are.equal("abc123", cfg.tag)
            assert.are.equal("none", cfg.host)
            assert.are.same({ request_duration = true, bytes_sent = true }, cfg.enabled)
            assert.are.same({ 0.1, 1 }, cfg.time)
            assert.are.same({ 10 }, cfg.length)
            assert.are.same({ 100 }, cfg.size)
        end)

        it("reads exponents as Go prints them", function()
            local cfg = assert(metrics.parse_config("0f;server;;1;1;10,1e+06,1e+07"))
            assert.are.same({ 10, 1e6, 1e7 }, cfg.size)
        end)

        for _, case in ipairs({
            { "", "empty" },
            { "abc;none;;1;1", "want 6 fields" },
            { "xyz;none;;1;1;1", "not hex" },
            { "ab;all;;1;1;1", "host mode all" },
            { "ab;none;;1,x;1;1", "x is not a number" },
            { "ab;none;;1,1;1;1", "not increasing" },
            { "ab;none;;;1;1", "time buckets: none" },
            { "ab;none;;1;1;inf", "not a number" },
        }) do
            it("refuses " .. case[1], function()
                local cfg, err = metrics.parse_config(case[1])
                assert.is_nil(cfg)
                assert.truthy(err:find(case[2], 1, true), err)
            end)
        end
    end)

    it("adds requests to the worker's table and moves the sums to the dict at flush", function()
        local dict = stub.shared_dict()
        local m = new(dict)
        m:observe("r1", 200, "GET", "", "", 0.05, 0.04, 0.001, 0.03, 120, 50)
        m:observe("r1", 200, "GET", "", "", 0.5, nil, nil, nil, 120, 5000)
        m:observe("r1", 200, "GET", "", "", 3, nil, nil, nil, 120, 100)
        assert.are.equal("", dumped(dict), "nothing reaches the dict before the flush")
        assert.are.equal(0, m:flush())
        local p = "abc123\tr1\t200\tGET\t\t\t"
        assert.are.equal(table.concat({
            p .. "1\t3\n",   -- requests
            p .. "10\t1\n",  -- bytes_sent +Inf (5000)
            p .. "2\t3\n",   -- request_duration count
            p .. "3\t3.5499999999999998\n", -- its sum, 0.05 + 0.5 + 3
            p .. "4\t1\n",   -- <= 0.1
            p .. "5\t1\n",   -- <= 1
            p .. "6\t1\n",   -- +Inf
            p .. "7\t3\n",   -- bytes_sent count
            p .. "8\t5150\n", -- its sum
            p .. "9\t2\n",   -- <= 100 (50 and 100: bounds are inclusive)
        }), dumped(dict))
        -- A second flush adds only what came since.
        m:observe("r1", 200, "GET", "", "", 0.05, nil, nil, nil, 1, 1)
        m:flush()
        assert.are.equal(4, dict:get(p .. "1"))
        assert.are.equal(3, dict:get(p .. "9"))
        assert.are.equal(0, m:flush(), "nothing new: nothing written")
        assert.are.equal(4, dict:get(p .. "1"))
    end)

    it("keeps label sets apart and bounds the method label", function()
        local dict = stub.shared_dict()
        local m = new(dict)
        m:observe("r1", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        m:observe("r1", 404, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        m:observe("r2", 200, "POST", "a.example.com", "ns.canary.80", 0.01, nil, nil, nil, 1, 1)
        m:observe("", 400, "BREW", "", "", 0.01, nil, nil, nil, 1, 1)
        m:observe("", 400, "AAAAAAAAAAAAAAAAAAAA", "", "", 0.01, nil, nil, nil, 1, 1)
        m:flush()
        assert.are.equal(1, dict:get("abc123\tr1\t200\tGET\t\t\t1"))
        assert.are.equal(1, dict:get("abc123\tr1\t404\tGET\t\t\t1"))
        assert.are.equal(1, dict:get("abc123\tr2\t200\tPOST\ta.example.com\tns.canary.80\t1"))
        assert.are.equal(2, dict:get("abc123\t\t400\tOTHER\t\t\t1"), "unknown methods share one label")
    end)

    it("adds the figures of several workers", function()
        local dict = stub.shared_dict()
        local a, b = new(dict), new(dict)
        a:observe("r1", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        b:observe("r1", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        b:observe("r1", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        a:flush()
        b:flush()
        assert.are.equal(3, dict:get("abc123\tr1\t200\tGET\t\t\t1"))
    end)

    it("never evicts: a full dict drops new figures, counts and logs them", function()
        local dict = stub.shared_dict()
        -- #tag, #dropped and the 7 figures of one label set.
        dict.capacity = 9
        local m, lines = new(dict)
        m:reset_if_other_layout()
        m:observe("r1", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        assert.are.equal(0, m:flush())
        m:observe("r2", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        m:observe("r1", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        assert.are.equal(7, m:flush())
        assert.are.equal(2, dict:get("abc123\tr1\t200\tGET\t\t\t1"), "existing figures still count")
        assert.is_nil(dict:get("abc123\tr2\t200\tGET\t\t\t1"))
        assert.are.equal(7, dict:get("#dropped"))
        assert.are.equal(1, #lines)
        assert.truthy(lines[1]:find("raise --request-metrics-memory", 1, true))
    end)

    it("empties the dict when it holds another layout", function()
        local dict = stub.shared_dict()
        dict:set("#tag", "old")
        dict:set("old\tr1\t200\tGET\t\t\t1", 5)
        local m = new(dict)
        m:reset_if_other_layout()
        assert.are.equal("#dropped\t0\n#tag\tabc123\n", dumped(dict))
        m:observe("r1", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        m:flush()
        m:reset_if_other_layout()
        assert.are.equal(1, dict:get("abc123\tr1\t200\tGET\t\t\t1"), "the same layout keeps its figures")
    end)

    it("forgets the figures of the routes it is given", function()
        local dict = stub.shared_dict()
        local m = new(dict)
        m:observe("r1", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        m:observe("r2", 200, "GET", "", "", 0.01, nil, nil, nil, 1, 1)
        m:flush()
        local n = metrics.forget(dict, { r1 = true })
        assert.are.equal(7, n, "the set's figures that are not 0")
        assert.is_nil(dict:get("abc123\tr1\t200\tGET\t\t\t1"))
        assert.are.equal(1, dict:get("abc123\tr2\t200\tGET\t\t\t1"))
    end)

    it("reads upstream times of one attempt or several", function()
        assert.is_nil(metrics.upstream_time(nil))
        assert.are.equal(0.004, metrics.upstream_time("0.004"))
        assert.are.equal(0.5, metrics.upstream_time("0.002, 0.498"))
        assert.are.equal(0.003, metrics.upstream_time("0.001 : 0.002"))
        assert.is_nil(metrics.upstream_time("-"))
    end)

    it("keeps only host names from the client", function()
        assert.are.equal("a.example.com", metrics.clean_host("a.example.com"))
        assert.are.equal("[::1]:80", metrics.clean_host("[::1]:80"))
        assert.are.equal("", metrics.clean_host("a\tb"))
        assert.are.equal("", metrics.clean_host("a\"b"))
        assert.are.equal("", metrics.clean_host(string.rep("a", 254)))
    end)
end)
