-- limit-peek (v2): what limit-decide would answer, without charging or writing anything.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- ARGV         laid out exactly as for limit-decide (the grace, ARGV[2], is unused)
-- Returns      exactly what limit-decide returns
-- @include limits/decide
local rules, p = read_rules(3)
local shapes
shapes, p = read_shapes(p, rules)
local runs = read_runs(p, shapes)
local out = {}
decide_runs(KEYS[1], runs, false, out)
return out
