-- wrk script for bench/pairs/09-memory.sh: every request GETs a path picked at random
-- (uniformly) from the file named by the BENCH_PATHS environment variable (one URL path
-- per line, as its first space-separated field, e.g.
-- /apt/bench/pool/main/p/python3-core0/python3-core0_1.0.0-1_amd64.deb <sha256>).
-- At the end prints one line "status: <200 answers> <other answers>" so the caller can
-- check that every answer was a 200.

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  local name = os.getenv("BENCH_PATHS")
  local f = assert(io.open(name, "r"), "BENCH_PATHS names no readable file")
  for line in f:lines() do
    local path = line:match("^(%S+)")
    if path then paths[#paths + 1] = path end
  end
  f:close()
  assert(#paths > 0, "no paths in " .. name)
  math.randomseed(os.time() * 1000 + id)
  ok, other = 0, 0
end

function request()
  return wrk.format("GET", paths[math.random(#paths)])
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("other")
  end
  io.write(string.format("status: %d %d\n", o, b))
end
