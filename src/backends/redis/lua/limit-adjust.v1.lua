-- limit-adjust (v1): adds each item's delta (negative refunds) without checking limits.
--
-- KEYS[1]      {ns}:l:blocks         (routing only: every limit script names it first)
-- KEYS[2..n]   {ns}:l:s:<scope>      hash: rule name -> state
-- ARGV[1]      grace ms added to every key's TTL past its idle time
-- ARGV[2]      now (ms)
-- ARGV[3]      number of items N
-- ARGV[4..]    N items: (keyIndex, rule, algorithm 1|2|3, limit, windowMs, capacity, step, delta)
-- Returns      the number of items applied
local grace = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local p = 4
for _ = 1, n do
  local key = KEYS[tonumber(ARGV[p])]
  local field = ARGV[p + 1]
  local rule = {
    alg = tonumber(ARGV[p + 2]),
    limit = tonumber(ARGV[p + 3]),
    window = tonumber(ARGV[p + 4]),
    capacity = tonumber(ARGV[p + 5]),
    step = tonumber(ARGV[p + 6]),
  }
  local delta = tonumber(ARGV[p + 7])
  p = p + 8
  local state = load_state(key, field)
  store_state(key, field, ALGS[rule.alg].adjust(state, now, delta, rule), rule, now)
end
flush(grace)
return n
