-- ratelog: per-request warnings, at most one line per message per period
-- in each worker. A route without data warns on every request it gets:
-- after an nginx restart that was one line per request (12,489 from one
-- kill). Now the first one is logged, the rest of the period only
-- counted, and the count is logged with the first warning of any kind
-- after the period ("and N more like it since it was logged 12s ago"), so
-- the log says how many requests it hit.
--
-- new takes
--   deps.now     the clock in seconds (ngx.now)
--   deps.log     function(...) that writes one line (ngx.log at WARN)
--   deps.period  seconds between two lines of one message (default 10)

local setmetatable = setmetatable
local pairs = pairs
local math_floor = math.floor

local _M = {}
local mt = { __index = _M }

function _M.new(deps)
    return setmetatable({
        now = deps.now,
        log = deps.log,
        period = deps.period or 10,
        seen = {}, -- message -> { at = when logged, skipped = count since }
        swept = deps.now(),
    }, mt)
end

-- sweep logs the counts of messages whose period ended and forgets them,
-- so the table holds only the messages of the last period.
local function sweep(self, now)
    local period = self.period
    for why, e in pairs(self.seen) do
        if now - e.at >= period then
            if e.skipped > 0 then
                self.log(why, " (and ", e.skipped, " more like it since it was logged ",
                    math_floor(now - e.at), "s ago)")
            end
            self.seen[why] = nil
        end
    end
    self.swept = now
end

-- warn logs why unless it was logged in this period, in which case it is
-- only counted. It returns true when it logged.
function _M.warn(self, why)
    local now = self.now()
    if now - self.swept >= self.period then
        sweep(self, now)
    end
    local e = self.seen[why]
    if e then
        e.skipped = e.skipped + 1
        return false
    end
    self.seen[why] = { at = now, skipped = 0 }
    self.log(why)
    return true
end

return _M
