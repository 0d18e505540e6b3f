-- A list scenario of bench.scale: GET the URL wrk was given, with the bench token.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")
