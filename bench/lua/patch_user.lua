-- S4: PATCH /api/users/{own id} with a new name each time.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local counter = 0
local path = "/api/users/" .. bench.user_id
-- wrk.format uses wrk.headers (with the bearer token) only when it is given no headers.
wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local body = string.format('{"name":"Bench %d-%d"}', thread_id or 0, counter)
  return wrk.format("PATCH", path, nil, body)
end
