-- S2: GET /api/users/{random seeded id} with a bearer token.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

function init(args)
  bench.seed_random()
end

function request()
  return wrk.format("GET", "/api/users/" .. math.random(bench.id_min, bench.id_max))
end
