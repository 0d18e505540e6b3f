-- LOGIN: POST /api/tokens with the login user's email and password (a session each time).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "common.lua")

local body = string.format(
  '{"email":"%s","password":"%s"}',
  os.getenv("ROSTER_BENCH_EMAIL") or "", os.getenv("ROSTER_BENCH_PASSWORD") or ""
)
-- Public: no bearer token, and JSON.
wrk.headers["Authorization"] = nil
wrk.headers["Content-Type"] = "application/json"

function request()
  return wrk.format("POST", "/api/tokens", nil, body)
end
