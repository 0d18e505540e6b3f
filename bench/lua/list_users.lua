-- S3: GET /api/users?page={random}&per_page=20 with a bearer token.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

function init(args)
  bench.seed_random()
end

function request()
  return wrk.format("GET", "/api/users?page=" .. math.random(1, bench.pages) .. "&per_page=20")
end
