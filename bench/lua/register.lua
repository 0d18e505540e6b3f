-- S5: POST /api/users with a unique email per request (run nonce + thread id + counter).
-- The runner gives each wrk invocation its own nonce, so warm-up and measurement never clash.
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local counter = 0
-- wrk.format uses wrk.headers only when it is given no headers.
wrk.headers["Content-Type"] = "application/json"

function request()
  counter = counter + 1
  local body = string.format(
    '{"name":"Bench %d-%d","email":"load-%s-%d-%d@example.com","password":"bench-password-1"}',
    thread_id or 0, counter, bench.nonce, thread_id or 0, counter
  )
  return wrk.format("POST", "/api/users", nil, body)
end
