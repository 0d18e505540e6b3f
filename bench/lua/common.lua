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

function setup(thread)
  next_thread_id = next_thread_id + 1
  thread:set("thread_id", next_thread_id)
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
  }
  io.write("\nBENCH_JSON {" .. table.concat(fields, ",") .. "}\n")
end
