-- Loaded by busted before any spec (.busted names it). The balancer runs on
-- LuaJIT inside nginx: Lua 5.1 semantics, the bit library, numbers as
-- doubles. A spec run on another Lua (busted's own interpreter is Lua 5.2
-- on Debian) would test something else, so it stops here.
if not jit then
    error("run the specs with LuaJIT (luajit /usr/bin/busted), as nginx runs the balancer; this is " .. _VERSION, 0)
end
