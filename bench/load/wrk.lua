-- The load harness's script for wrk (-client wrk; see wrk.go). Arguments,
-- after wrk's own and "--": the corpus file (every request body the phase
-- may send, one per line), the X-API-Key ("-" for none), the status of a
-- good answer, and a string a good answer's body contains ("-" for any).
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
  io.write(string.format(
    "QLWRK ok=%d bad=%d connect=%d read=%d write=%d timeout=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d max_us=%d\n",
    good, wrong, e.connect, e.read, e.write, e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
  if firstBad ~= "" then
    io.write("QLWRK-FIRST " .. firstBad .. "\n")
  end
end
