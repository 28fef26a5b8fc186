-- The load harness's script for wrk (-client wrk; see wrk.go). Arguments,
-- after wrk's own and "--": the corpus file (every request body the phase
-- may send, one per line), the X-API-Key ("-" for none), the status of a
-- good answer, a string a good answer's body contains ("-" for any), and
-- the number of connections (wrk's -c, which the latency figures need).
-- Each request posts a body picked at random from the corpus, as the Go
-- clients do. The main thread prints one QLWRK line for the harness to
-- parse; each thread says QLWRK-READY on stderr once its corpus is loaded,
-- just before wrk starts its clock, so that the harness can leave the
-- loading out of the CPU it counts.
--
-- The corpus lives outside Lua's heap, in memory from C's malloc, with
-- each body's bounds beside it; a request copies its body out. Inside the
-- heap, as a table of a million strings and even as one string, it made
-- wrk's one thread stall for tens to hundreds of milliseconds at a time at
-- a million licenses, in the ceiling's phases as much as in validate's
-- (docs/benchmarks.md).

local ffi = require("ffi")
ffi.cdef [[ void *malloc(size_t size); ]]

local buf, first_of, len_of, n
local headers = { ["Content-Type"] = "application/json" }
local want, needle

ok, bad, first = 0, 0, ""

local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

-- cmalloc returns count elements of ctype from C's malloc, never freed:
-- wrk exits at the end of the phase.
local function cmalloc(ctype, count)
  local p = ffi.C.malloc(ffi.sizeof(ctype) * math.max(count, 1))
  assert(p ~= nil, "out of memory")
  return ffi.cast(ctype .. " *", p)
end

function init(args)
  local f = assert(io.open(args[1], "rb"))
  local data = f:read("*a")
  f:close()
  local lines, at = 0, string.find(data, "\n", 1, true)
  while at do
    lines = lines + 1
    at = string.find(data, "\n", at + 1, true)
  end
  if lines == 0 then
    error("empty corpus " .. args[1])
  end
  buf = cmalloc("char", #data)
  ffi.copy(buf, data, #data)
  first_of, len_of = cmalloc("double", lines), cmalloc("double", lines)
  n = 0
  local from = 1
  while true do
    local nl = string.find(data, "\n", from, true)
    if not nl then
      break
    end
    first_of[n], len_of[n] = from - 1, nl - from
    n = n + 1
    from = nl + 1
  end
  data = nil
  collectgarbage()
  if args[2] ~= "-" then
    headers["X-API-Key"] = args[2]
  end
  want = tonumber(args[3])
  if args[4] ~= "-" then
    needle = args[4]
  end
  conns = tonumber(args[5])
  math.randomseed(os.time() * 1000 + id)
  io.stderr:write("QLWRK-READY\n")
  io.stderr:flush()
end

function request()
  local i = math.random(n) - 1
  return wrk.format("POST", nil, headers, ffi.string(buf + first_of[i], len_of[i]))
end

function response(status, _, body)
  if status == want and (needle == nil or string.find(body, needle, 1, true)) then
    ok = ok + 1
  else
    bad = bad + 1
    if first == "" then
      first = status .. ": " .. string.sub(body, 1, 200):gsub("%s", " ")
    end
  end
end

-- rawPercentiles returns the nearest-rank latencies at the given ranks (in
-- per mille) among those wrk recorded, and how many samples it found, undoing the synthetic samples
-- that wrk's stats_correct adds before it calls done (for every sample of
-- at least twice the mean time per request on a connection, one at each
-- multiple of that time below it, against coordinated omission): the Go
-- clients' rule, over the real samples only, but over every answer's, where
-- the Go clients keep good answers' only (wrk records a latency before the
-- script sees the answer; the summary does not judge p99 with failures in
-- it). It reads wrk's histogram
-- through the FFI, as wrk 4.1.0 lays it out (src/stats.h: count, limit,
-- min, max, then a count per microsecond); done checks the count it finds
-- against wrk's own, so another layout fails the phase instead of
-- reporting made-up figures.
local function rawPercentiles(summary, latency, permille)
  local s = ffi.cast("uint64_t **", latency)[0] -- count, limit, min, max, data[]
  local lo, hi, data = tonumber(s[2]), tonumber(s[3]), s + 4
  if s[0] == 0 then
    return {0, 0, 0}, 0
  end
  local e = 0
  -- conns is set by init, in the threads' states; done runs in the main one.
  local per = math.floor(summary.requests / tonumber(threads[1]:get("conns")))
  if per > 0 then
    e = math.floor(summary.duration / per)
  end
  local width = hi - lo + 1
  local raw = ffi.new("double[?]", width)
  local chain = ffi.new("double[?]", width) -- raw[n] + raw[n+e] + raw[n+2e] + ...
  local total = 0
  for n = hi, lo, -1 do
    local c = tonumber(data[n])
    local above = 0
    if e > 0 and n + e <= hi then
      above = chain[n + e - lo]
    end
    if e > 0 and n > e then
      c = c - above
    end
    raw[n - lo] = c
    chain[n - lo] = c + above
    total = total + c
  end
  local out = {}
  -- Ranks in per mille, so that pm * total is an exact integer: 99.9 / 100
  -- is not 0.999 in binary, and past ten million samples the difference
  -- moved the p99.9 rank.
  for j, pm in ipairs(permille) do
    local rank, seen = math.max(1, math.ceil(pm * total / 1000)), 0
    for n = lo, hi do
      seen = seen + raw[n - lo]
      if seen >= rank then
        out[j] = n
        break
      end
    end
  end
  return out, total
end

function done(summary, latency, _)
  local good, wrong, firstBad = 0, 0, ""
  for _, t in ipairs(threads) do
    good = good + t:get("ok")
    wrong = wrong + t:get("bad")
    if firstBad == "" then
      firstBad = t:get("first")
    end
  end
  local e = summary.errors
  local pct, samples = rawPercentiles(summary, latency, {500, 990, 999})
  -- Every answer is a sample, but for those past wrk's histogram limit,
  -- which it counts as timeouts.
  if samples > summary.requests or samples < summary.requests - e.timeout then
    io.write(string.format("QLWRK-ERROR wrk's latency histogram holds %d samples for %d answers (timeouts %d): not the layout this script reads\n",
      samples, summary.requests, e.timeout))
  end
  io.write(string.format(
    "QLWRK ok=%d bad=%d connect=%d read=%d write=%d timeout=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    good, wrong, e.connect, e.read, e.write, e.timeout, summary.duration,
    pct[1], pct[2], pct[3], latency.max))
  if firstBad ~= "" then
    io.write("QLWRK-FIRST " .. firstBad .. "\n")
  end
end
