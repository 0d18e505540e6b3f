-- S1 and the floors: GET /health (the URL's path), the same request every time.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")
