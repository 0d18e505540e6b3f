-- Shared by every scenario script (loaded with dofile): thread ids, per-thread random
-- seeds, the settings the runner passes in ROSTER_BENCH_* variables, and the report.
--
-- The report is one line on stdout, `BENCH_JSON {...}`, printed by done(). wrk counts a
-- response as a status error only when its status is above 399, so 201 and 204 are fine.

bench = {
  token = os.getenv("ROSTER_BENCH_TOKEN") or "",
  id_min = tonumber(os.getenv("ROSTER_BENCH_ID_MIN") or "1"),
  id_max = tonumber(os.getenv("ROSTER_BENCH_ID_MAX") or "1"),
  pages = tonumber(os.getenv("ROSTER_BENCH_PAGES") or "1"),
  user_id = tonumber(os.getenv("ROSTER_BENCH_USER_ID") or "1"),
  nonce = os.getenv("ROSTER_BENCH_NONCE") or tostring(os.time()),
}

if bench.token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. bench.token
end

local next_thread_id = 0
local threads = {}

function setup(thread)
  next_thread_id = next_thread_id + 1
  thread:set("thread_id", next_thread_id)
  table.insert(threads, thread)
end

-- Every error answer, and the 503s that say when to come back (shed load), per thread.
errors_seen, shed_with_retry_after = 0, 0

function response(status, headers, body)
  if status > 399 then
    errors_seen = errors_seen + 1
    -- hypercorn sends header names in lower case
    if status == 503 and (headers["retry-after"] or headers["Retry-After"]) ~= nil then
      shed_with_retry_after = shed_with_retry_after + 1
    end
  end
end

local function total(name)
  local sum = 0
  for _, thread in ipairs(threads) do
    sum = sum + (thread:get(name) or 0)
  end
  return sum
end

-- Call from init(): a different random sequence per thread and per run.
function bench.seed_random()
  local nonce_number = tonumber(string.sub(bench.nonce, 1, 8), 16) or os.time()
  math.randomseed(nonce_number + (thread_id or 0) * 7919)
  math.random()
  math.random()
end

local function int(x)
  return string.format("%.0f", x)
end

function done(summary, latency, requests)
  local errors = summary.errors
  local fields = {
    '"requests":' .. int(summary.requests),
    '"duration_us":' .. int(summary.duration),
    '"bytes":' .. int(summary.bytes),
    '"status_errors":' .. int(errors.status),
    '"connect_errors":' .. int(errors.connect),
    '"read_errors":' .. int(errors.read),
    '"write_errors":' .. int(errors.write),
    '"timeout_errors":' .. int(errors.timeout),
    '"latency_mean_us":' .. string.format("%.1f", latency.mean),
    '"latency_max_us":' .. int(latency.max),
    '"p50_us":' .. int(latency:percentile(50)),
    '"p90_us":' .. int(latency:percentile(90)),
    '"p99_us":' .. int(latency:percentile(99)),
    '"shed_with_retry_after":' .. int(total("shed_with_retry_after")),
  }
  io.write("\nBENCH_JSON {" .. table.concat(fields, ",") .. "}\n")
end
