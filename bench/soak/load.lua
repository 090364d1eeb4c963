-- wrk script for bench/soak.sh: every request GETs a path picked at random (uniformly)
-- from the file named by SOAK_PATHS (check.py's path list: "<path> <digests> <size>
-- <same> [<blob file>]"). For a path whose bytes are the same in every snapshot of the
-- soak (<same> = 1), every other request carries a random `Range: bytes=a-b` of up to
-- 64 KiB. An answer is good when it is 200 or 206; wrk interleaves a thread's connections,
-- so an answer cannot be tied to its request here: check.py checks ranges and bytes.
-- At the end prints "status: <good> <bad>" and "bad statuses: <status>=<count> ...".

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  paths, sizes, ranged = {}, {}, {}
  local name = os.getenv("SOAK_PATHS")
  local f = assert(io.open(name, "r"), "SOAK_PATHS names no readable file")
  for line in f:lines() do
    local path, _, size, same = line:match("^(%S+) (%S+) (%d+) (%d)")
    if path then
      paths[#paths + 1] = "/" .. path
      sizes[#paths] = tonumber(size)
      ranged[#paths] = same == "1" and tonumber(size) > 1
    end
  end
  f:close()
  assert(#paths > 0, "no paths in " .. name)
  math.randomseed(os.time() * 1000 + id)
  good, bad, statuses = 0, 0, {}
end

function request()
  local i = math.random(#paths)
  local headers = {}
  if ranged[i] and math.random() < 0.5 then
    local a = math.random(0, sizes[i] - 1)
    local b = math.min(sizes[i] - 1, a + math.random(1, 65536))
    headers["Range"] = string.format("bytes=%d-%d", a, b)
  end
  return wrk.format("GET", paths[i], headers)
end

function response(status, headers, body)
  if status == 200 or status == 206 then
    good = good + 1
  else
    bad = bad + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local g, b, all = 0, 0, {}
  for _, t in ipairs(threads) do
    g = g + t:get("good")
    b = b + t:get("bad")
    for s, n in pairs(t:get("statuses")) do all[s] = (all[s] or 0) + n end
  end
  io.write(string.format("status: %d %d\n", g, b))
  local line = "bad statuses:"
  for s, n in pairs(all) do line = line .. string.format(" %d=%d", s, n) end
  io.write(line .. "\n")
end
