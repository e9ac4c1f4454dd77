-- Canary decision: does this request go to the canary's backend? In
-- ingress-nginx's order:
--   1. canary-by-header: with canary-by-header-value, the value equal to
--      it; else with canary-by-header-pattern, the value matching it (PCRE,
--      as the controller printed it); else "always" (yes) or "never" (no).
--      Any other value, or no header, goes on to 2.
--   2. canary-by-cookie: "always" (yes) or "never" (no); else on to 3.
--   3. canary-weight out of canary-weight-total (default 100).

local setmetatable = setmetatable
local type = type
local tonumber = tonumber

local _M = {}
local mt = { __index = _M }

local function header_var(name)
    return "http_" .. name:lower():gsub("-", "_")
end

-- compile prepares a route's pushed canary object once per push: the
-- nginx variables of its header and cookie, and the weights as numbers.
function _M.compile(spec)
    if type(spec.header) == "string" and spec.header ~= "" then
        spec.header_var = header_var(spec.header)
    end
    if type(spec.cookie) == "string" and spec.cookie ~= "" then
        spec.cookie_var = "cookie_" .. spec.cookie
    end
    spec.weight = tonumber(spec.weight) or 0
    spec.weightTotal = tonumber(spec.weightTotal) or 100
    if spec.weightTotal < 1 then
        spec.weightTotal = 100
    end
    return spec
end

-- new takes deps.var (ngx.var), deps.re_find (ngx.re.find) and
-- deps.random (math.random).
function _M.new(deps)
    return setmetatable({ var = deps.var, re_find = deps.re_find, random = deps.random }, mt)
end

-- use decides for one request on a compiled canary object.
function _M.use(self, spec)
    local var = self.var
    if spec.header_var then
        local value = var[spec.header_var]
        if value then
            if spec.headerValue and spec.headerValue ~= "" then
                if value == spec.headerValue then
                    return true
                end
            elseif spec.headerPattern and spec.headerPattern ~= "" then
                if self.re_find(value, spec.headerPattern, "jo") then
                    return true
                end
            elseif value == "always" then
                return true
            elseif value == "never" then
                return false
            end
        end
    end
    if spec.cookie_var then
        local value = var[spec.cookie_var]
        if value == "always" then
            return true
        elseif value == "never" then
            return false
        end
    end
    if spec.weight <= 0 then
        return false
    end
    return self.random(spec.weightTotal) <= spec.weight
end

return _M
