-- limit-adjust (v2): adds each item's delta (negative refunds) without checking limits.
--
-- KEYS[1]      {ns}:l:blocks         (routing only: every limit script names it first)
-- ARGV[1]      the namespace's key prefix {ns}:l: (see includes/limits/keys.lua for the keys derived from it)
-- ARGV[2]      grace ms added to every key's TTL past its idle time
-- ARGV[3]      now (ms)
-- ARGV[4]      number of items N
-- ARGV[5..]    N items: scope, rule name, "algorithm 1|2|3|4,limit,windowMs,capacity,step,delta[,at]"; at (ms):
--              the instant of the charge corrected, to which the correction is attributed (PlanItem.at)
-- Returns      the number of items applied
-- @include limits/cache
local grace = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local items = {}
local group = nil
for i = 1, n do
  local p = 5 + 3 * (i - 1)
  local scope = ARGV[p]
  local field = ARGV[p + 1]
  local v = numbers(ARGV[p + 2])
  local rule = { alg = v[1], limit = v[2], window = v[3], capacity = v[4], step = v[5], name = field }
  -- Consecutive items of one scope (a plan's rules of a scope) are read with one HMGET of their names.
  if not (group and items[i - 1].scope == scope) then group = { names = {}, seen = {} } end
  if group.names and group.seen[field] then group.names = nil end
  if group.names then
    group.seen[field] = true
    group.names[#group.names + 1] = field
  end
  group[#group + 1] = { field = field, rule = rule }
  items[i] = { scope = scope, field = field, rule = rule, delta = v[6], at = v[7], group = group }
end
for i = 1, n do
  local item = items[i]
  local scope, field, rule, at = item.scope, item.field, item.rule, item.at
  local g = item.group
  local slot = slot_of(scope, field, rule, #g > 1 and g.names and g or nil)
  local state = slot.state or nil
  if at and at < now and rule.alg == 1 then
    store(slot, sw_adjust_at(state, now, item.delta, rule, at), rule, now)
  elseif at and at < now and rule.alg == 3 and (at - fmod(at, rule.window)) < fw_start(state, now, rule) then
    -- Mirrors fixedWindow.adjust: a correction of a window that has ended changes nothing that counts.
    local start = fw_start(state, now, rule)
    store(slot, { start, fw_used(state, start) }, rule, now)
  elseif rule.alg == 4 then
    store(slot, aw_adjust(state, now, item.delta, rule, at), rule, now)
  else
    store(slot, apply(ALGS[rule.alg].adjust, state, now, item.delta, rule, scope, field), rule, now)
  end
end
flush(grace)
return n
