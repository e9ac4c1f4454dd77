-- Session affinity by cookie (affinity: cookie), in two modes.
--
-- persistent: the cookie names an endpoint (its id), which keeps the
-- session as long as it exists.
-- balanced: the cookie holds a random key placed on the consistent-hash
-- ring, so scaling moves only the sessions whose part of the ring changed
-- owner.
--
-- A client without a valid session gets one on the endpoint its attempt
-- uses, again on a retry (so the cookie never names the peer that failed);
-- a valid session moves to the retry's endpoint only with change-on-failure.

local setmetatable = setmetatable
local tonumber = tonumber
local type = type

local _M = {}
local mt = { __index = _M }

-- compile prepares a route's pushed affinity object once per push: the
-- nginx variable of its cookie, and the Set-Cookie text before and after
-- the value and Expires, so that a new session costs one concatenation.
-- The attributes come in this order:
--   NAME=VALUE; Path=; Domain=; Max-Age=; Expires=; Secure; SameSite=; HttpOnly
function _M.compile(spec)
    spec.cookie_var = "cookie_" .. spec.name
    local attrs = ""
    if spec.path and spec.path ~= "" then
        attrs = attrs .. "; Path=" .. spec.path
    end
    if spec.domain and spec.domain ~= "" then
        attrs = attrs .. "; Domain=" .. spec.domain
    end
    local max_age = tonumber(spec.maxAge) or 0
    if max_age > 0 then
        attrs = attrs .. "; Max-Age=" .. max_age
    end
    local tail = ""
    if spec.secure then
        tail = tail .. "; Secure"
    end
    if spec.sameSite and spec.sameSite ~= "" then
        tail = tail .. "; SameSite=" .. spec.sameSite
    end
    tail = tail .. "; HttpOnly"
    local expires = tonumber(spec.expires) or 0
    spec.cookie_head = spec.name .. "="
    spec.cookie_attrs = attrs
    spec.cookie_tail = tail
    spec.expires_in = expires > 0 and expires or nil
    return spec
end

-- new takes
--   deps.chash    the chash instance (balanced sessions live on its ring)
--   deps.policy   function(route, pool, exclude) -> ep: the route's own
--                 policy, which places a new persistent session
--   deps.md5, deps.now, deps.random, deps.var   (ngx.md5, ngx.now,
--                 math.random, ngx.var: a new balanced session's key)
--   deps.time, deps.cookie_time                 (ngx.time, ngx.cookie_time)
function _M.new(deps)
    return setmetatable({
        chash = deps.chash,
        policy = deps.policy,
        md5 = deps.md5,
        now = deps.now,
        random = deps.random,
        var = deps.var,
        time = deps.time,
        cookie_time = deps.cookie_time,
    }, mt)
end

-- cookie is the Set-Cookie header value that gives the client value.
function _M.cookie(self, spec, value)
    local expires = spec.expires_in
    if expires then
        return spec.cookie_head .. value .. spec.cookie_attrs
            .. "; Expires=" .. self.cookie_time(self.time() + expires) .. spec.cookie_tail
    end
    return spec.cookie_head .. value .. spec.cookie_attrs .. spec.cookie_tail
end

-- new_session draws a random key for a new balanced session whose own
-- endpoint on the ring is not exclude (the peer that just failed), so the
-- cookie leads straight to the endpoint this attempt uses: a key that only
-- reached it by skipping the failed peer would send every later request of
-- the session to the failed peer first. Each draw misses with the failed
-- peer's share of the ring; after 20 misses (it owns nearly all of it) the
-- attempt still skips it.
local function new_session(self, pool, exclude)
    local chash = self.chash
    local key, ep
    for _ = 1, 20 do
        key = self.md5(self.var.request_id .. self.now() .. self.random())
        ep = chash:pick(pool, nil, key)
        if ep.addr ~= exclude then
            return key, ep
        end
    end
    return key, chash:pick(pool, exclude, key)
end

-- pick returns the endpoint for this attempt of a route with affinity, and
-- the Set-Cookie value to send when the session is new or moves (else
-- nil). cookie is the request's cookie value (nil without one).
function _M.pick(self, route, pool, exclude, cookie)
    local spec = route.affinity
    if spec.mode == "persistent" then
        local pinned = cookie and pool.by_id[cookie]
        if pinned and pinned.addr ~= exclude then
            return pinned
        end
        local ep = self.policy(route, pool, exclude)
        if not pinned or spec.changeOnFailure then
            return ep, self:cookie(spec, ep.id)
        end
        return ep
    end
    local valid = cookie and #cookie == 32
    if valid and not (exclude and spec.changeOnFailure) then
        return self.chash:pick(pool, exclude, cookie)
    end
    local key, ep = new_session(self, pool, exclude)
    return ep, self:cookie(spec, key)
end

-- add_set_cookie returns the Set-Cookie header with cookie added after what
-- the backend set (nil, one string or a list of them).
function _M.add_set_cookie(existing, cookie)
    if existing == nil then
        return cookie
    end
    if type(existing) == "table" then
        existing[#existing + 1] = cookie
        return existing
    end
    return { existing, cookie }
end

return _M
