-- The specs' md5 (helpers/md5.lua) must be nginx's: ring placement and
-- endpoint ids in the other specs are only what nginx computes if it is.
local md5 = require("spec.helpers.md5")

describe("spec md5", function()
    -- RFC 1321, appendix A.5.
    local suite = {
        [""] = "d41d8cd98f00b204e9800998ecf8427e",
        ["a"] = "0cc175b9c0f1b6a831c399e269772661",
        ["abc"] = "900150983cd24fb0d6963f7d28e17f72",
        ["message digest"] = "f96b697d7cb7938d525a2f31aaf161d0",
        ["abcdefghijklmnopqrstuvwxyz"] = "c3fcd3d76192e4007dfb496cca67e13b",
        ["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"] = "d174ab98d277d9f5a5611c2c9f419d9f",
        [string.rep("1234567890", 8)] = "57edf4a22be3c955ac49da2e2107b67a",
    }

    it("gives the RFC 1321 test suite's digests", function()
        for input, want in pairs(suite) do
            assert.are.equal(want, md5.hex(input), "md5 of " .. input)
        end
    end)

    it("pads inputs at and around the block boundary", function()
        -- md5sum of 55, 56 and 64 x's: one block, two blocks, two blocks.
        assert.are.equal("04364420e25c512fd958a70738aa8f72", md5.hex(string.rep("x", 55)))
        assert.are.equal("668a72d5ba17f08e62dabcafad6db14b", md5.hex(string.rep("x", 56)))
        assert.are.equal("c1bb4f81d892b2d57947682aeb252456", md5.hex(string.rep("x", 64)))
    end)

    it("gives 16 raw bytes from bin, as ngx.md5_bin", function()
        local bin = md5.bin("abc")
        assert.are.equal(16, #bin)
        assert.are.equal(0x90, bin:byte(1))
        assert.are.equal(0x72, bin:byte(16))
    end)
end)
