-- limit-peek (v1): what limit-decide would answer, without charging or writing anything.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- ARGV         laid out exactly as for limit-decide (the grace, ARGV[2], is unused)
-- Returns      6 values per request: allowed (1|0), retryAfterMs, remaining, limit, kind (0 none, 1 item,
--              2 scope), index (0-based); integral values as integers, others as %.17g strings
local rules, p = read_rules(3)
local shapes
shapes, p = read_shapes(p, rules)
local n = tonumber(ARGV[p])
p = p + 1
local out = {}
for i = 1, n do
  local req
  req, p = read_request(p, shapes)
  decide(KEYS[1], req, false, out)
end
return out
