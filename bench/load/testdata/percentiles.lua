-- A test of wrk.lua's rawPercentiles, run by TestWrkRawPercentiles as
-- "wrk -s percentiles.lua http://127.0.0.1:1/" with QLWRK_SCRIPT naming
-- wrk.lua: it runs at load time, inside wrk's own LuaJIT, and exits before
-- any connection. It builds wrk 4.1.0's latency histogram (count, limit,
-- min, max, a count per microsecond) from known samples, applies wrk's
-- stats_correct to it as wrk.c does, and checks that rawPercentiles gives
-- back the real count and the nearest-rank latencies of the real samples.
local ffi = require("ffi")
local path = assert(os.getenv("QLWRK_SCRIPT"), "QLWRK_SCRIPT unset")
local src = assert(io.open(path)):read("*a")
local fn = assert(src:match("(local function rawPercentiles.-\nend\n)"), "no rawPercentiles in wrk.lua")
threads = {}
local rawPercentiles = assert(loadstring("local ffi = require('ffi')\n" .. fn .. "\nreturn rawPercentiles"))()

local failures, cases = 0, 0

-- check runs rawPercentiles on the histogram of raw ({latency = count})
-- after wrk's correction for conns connections and a run of duration µs.
local function check(name, raw, conns, duration)
  local mn, mx, count = math.huge, 0, 0
  for v, c in pairs(raw) do
    count = count + c
    mn, mx = math.min(mn, v), math.max(mx, v)
  end
  local limit = mx + 1
  local s = ffi.new("uint64_t[?]", 4 + limit)
  for v, c in pairs(raw) do
    s[4 + v] = c
  end
  s[0], s[1], s[2], s[3] = count, limit, mn, mx
  -- wrk.c: interval = runtime_us / (complete / connections), in integers;
  -- stats.c, stats_correct: for every n from 2*interval to max, each of
  -- its samples adds one at n - k*interval while that stays above it.
  local per = math.floor(count / conns)
  local e = per > 0 and math.floor(duration / per) or 0
  if e > 0 then -- (wrk itself would loop for ever on an interval of 0)
    for n = 2 * e, mx do
      local c = s[4 + n]
      local m = n - e
      while c ~= 0 and m > e do
        s[4 + m] = s[4 + m] + c
        s[0] = s[0] + c
        m = m - e
      end
    end
  end
  threads[1] = { get = function(_, k) assert(k == "conns"); return conns end }
  local holder = ffi.new("uint64_t *[1]", ffi.cast("uint64_t *", s))
  local pct, total = rawPercentiles({ requests = count, duration = duration }, holder, { 500, 990, 999 })
  -- The nearest rank over the real samples, in exact integers.
  local want = {}
  for j, pm in ipairs({ 500, 990, 999 }) do
    local rank, seen = math.max(1, math.floor((pm * count + 999) / 1000)), 0
    for v = mn, mx do
      seen = seen + (raw[v] or 0)
      if seen >= rank then
        want[j] = v
        break
      end
    end
  end
  cases = cases + 1
  if total ~= count or pct[1] ~= want[1] or pct[2] ~= want[2] or pct[3] ~= want[3] then
    failures = failures + 1
    if failures <= 5 then
      io.write(string.format("FAIL %s: conns %d, duration %d, %d samples: got %s samples, %s/%s/%s; want %d/%d/%d\n",
        name, conns, duration, count, tostring(total), tostring(pct[1]), tostring(pct[2]), tostring(pct[3]),
        want[1], want[2], want[3]))
    end
  end
end

math.randomseed(7)
for i = 1, 2000 do
  local raw, k, spread, base = {}, math.random(1, 400), math.random(5, 300), math.random(1, 50)
  for _ = 1, k do
    local v = base + math.random(0, spread)
    if math.random() < 0.05 then
      v = v + math.random(0, 5 * spread)
    end
    raw[v] = (raw[v] or 0) + 1
  end
  local conns = math.random(1, 40)
  local per = math.max(1, math.floor(k / conns))
  check("random " .. i, raw, conns, math.random(1, spread) * per + math.random(0, per - 1))
end
-- Samples at exactly two and three times the interval (10).
check("boundaries", { [10] = 3, [20] = 1, [30] = 2, [31] = 1 }, 1, 70)
-- Past ten million samples, where a rank from 99.9 / 100 came out one high.
check("large", { [1000] = 16896087, [9000] = 16913 }, 32, 6000000)
io.write(string.format("QLWRK-TEST cases=%d failures=%d\n", cases, failures))
os.exit(failures == 0 and 0 or 1)
