-- wrk script: probe a fleet's instances in turn through the exporter's /probe, optionally
-- pausing between requests on each connection to hold a rate below the peak.
-- Settings come from the environment: TARGET_HOST, FIRST_PORT, INSTANCES, DELAY_MS.
local host = os.getenv("TARGET_HOST") or "127.0.0.1"
local first_port = tonumber(os.getenv("FIRST_PORT") or "8080")
local instances = tonumber(os.getenv("INSTANCES") or "1")
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")
next_index = 0  -- global, so setup() can give each thread its own start

function setup(thread)
  -- Each thread starts elsewhere in the fleet.
  thread:set("next_index", math.random(0, instances - 1))
end

function request()
  next_index = (next_index + 1) % instances
  local path = string.format("/probe?target=%s:%d", host, first_port + next_index)
  return wrk.format("GET", path)
end

function delay()
  return delay_ms
end
