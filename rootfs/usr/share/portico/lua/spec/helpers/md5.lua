-- MD5 (RFC 1321) in plain LuaJIT, for the specs only: nginx gives the
-- balancer ngx.md5 and ngx.md5_bin, LuaJIT has no md5 of its own, and the
-- consistent-hash ring and endpoint ids must come out exactly as nginx
-- computes them for the specs to say anything about placement. md5_spec.lua
-- checks it against the RFC's test suite. Speed is of no concern here.

local bit = require("bit")

local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rol, tobit, tohex = bit.rol, bit.tobit, bit.tohex
local string_byte, string_char, string_rep = string.byte, string.char, string.rep
local math_floor, math_abs, math_sin = math.floor, math.abs, math.sin

local K, S = {}, {}
for i = 0, 63 do
    K[i] = tobit(math_floor(math_abs(math_sin(i + 1)) * 2 ^ 32))
end
do
    local shifts = { { 7, 12, 17, 22 }, { 5, 9, 14, 20 }, { 4, 11, 16, 23 }, { 6, 10, 15, 21 } }
    for i = 0, 63 do
        S[i] = shifts[math_floor(i / 16) + 1][i % 4 + 1]
    end
end

-- le32 reads the little-endian word at byte offset pos (1-based) of s.
local function le32(s, pos)
    local a, b, c, d = string_byte(s, pos, pos + 3)
    return tobit(a + b * 0x100 + c * 0x10000 + d * 0x1000000)
end

local function le_bytes(w)
    return string_char(band(w, 0xff), band(bit.rshift(w, 8), 0xff), band(bit.rshift(w, 16), 0xff), band(bit.rshift(w, 24), 0xff))
end

local _M = {}

-- bin returns the 16-byte digest of s, like ngx.md5_bin.
function _M.bin(s)
    local len = #s
    -- Pad to 56 bytes mod 64, then the length in bits as 64 bits little-endian.
    local pad = 56 - (len + 1) % 64
    if pad < 0 then
        pad = pad + 64
    end
    local bits = len * 8
    local lo = bits % 2 ^ 32
    local hi = math_floor(bits / 2 ^ 32)
    local msg = s .. "\128" .. string_rep("\0", pad) .. le_bytes(tobit(lo)) .. le_bytes(tobit(hi))

    local a0, b0, c0, d0 = tobit(0x67452301), tobit(0xefcdab89), tobit(0x98badcfe), tobit(0x10325476)
    local M = {}
    for chunk = 1, #msg, 64 do
        for j = 0, 15 do
            M[j] = le32(msg, chunk + j * 4)
        end
        local a, b, c, d = a0, b0, c0, d0
        for i = 0, 63 do
            local f, g
            if i < 16 then
                f, g = bor(band(b, c), band(bnot(b), d)), i
            elseif i < 32 then
                f, g = bor(band(d, b), band(bnot(d), c)), (5 * i + 1) % 16
            elseif i < 48 then
                f, g = bxor(b, c, d), (3 * i + 5) % 16
            else
                f, g = bxor(c, bor(b, bnot(d))), (7 * i) % 16
            end
            f = tobit(f + a + K[i] + M[g])
            a, d, c = d, c, b
            b = tobit(b + rol(f, S[i]))
        end
        a0, b0, c0, d0 = tobit(a0 + a), tobit(b0 + b), tobit(c0 + c), tobit(d0 + d)
    end
    return le_bytes(a0) .. le_bytes(b0) .. le_bytes(c0) .. le_bytes(d0)
end

-- hex returns the digest as 32 lowercase hex digits, like ngx.md5.
function _M.hex(s)
    local bin = _M.bin(s)
    local out = {}
    for i = 1, 16 do
        out[i] = tohex(string_byte(bin, i), 2)
    end
    return table.concat(out)
end

return _M
