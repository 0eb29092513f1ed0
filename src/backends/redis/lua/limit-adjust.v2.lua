-- limit-adjust (v2): adds each item's delta (negative refunds) without checking limits.
--
-- KEYS[1]      {ns}:l:blocks         (routing only: every limit script names it first)
-- ARGV[1]      the namespace's key prefix {ns}:l: (see includes/limits/keys.lua for the keys derived from it)
-- ARGV[2]      grace ms added to every key's TTL past its idle time
-- ARGV[3]      now (ms)
-- ARGV[4]      number of items N
-- ARGV[5..]    N items: scope, rule name, "algorithm 1|2|3,limit,windowMs,capacity,step,delta"
-- Returns      the number of items applied
-- @include limits/cache
local grace = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local p = 5
for _ = 1, n do
  local scope = ARGV[p]
  local field = ARGV[p + 1]
  local v = numbers(ARGV[p + 2])
  local rule = { alg = v[1], limit = v[2], window = v[3], capacity = v[4], step = v[5], name = field }
  p = p + 3
  local slot = slot_of(scope, field, rule)
  store(slot, apply(ALGS[rule.alg].adjust, slot.state or nil, now, v[6], rule, scope, field), rule, now)
end
flush(grace)
return n
