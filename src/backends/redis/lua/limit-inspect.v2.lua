-- limit-inspect (v2): reads the state of rules and the blocks of scopes, atomically, for their stats.
-- The caller computes usage from them with the same pure algorithms as every other backend.
-- A list-form sliding-window state (limits/state) answers a summary instead of its whole log: its newest
-- sub-window holding its live usage, "last b,live units". At `now` that pair has exactly the log's
-- remaining (limit - live usage, the integer sum being exact in any order) and idleAt (both depend on the
-- newest sub-window and the live sum alone), and finding the live pairs reads only the dead ones at the
-- head of the log, so a full log (~200 pairs) costs what an empty one does.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- ARGV[1]      the namespace's key prefix {ns}:l: (see includes/limits/keys.lua for the keys derived from it)
-- ARGV[2]      now (ms)
-- ARGV[3]      number of scopes S
-- ARGV[4..]    S scopes, then per rule item: scope, rule name, "algorithm 1|2|3|4,windowMs,step" (the rule's)
-- Returns      S block ends ('0' when none), then per item the state as comma-joined numbers (the
--              summary above for a list-form sliding window), or false when it has none (or holds another
--              algorithm's: limits/state)
-- @include limits/sliding-live
local now = tonumber(ARGV[2])
local s = tonumber(ARGV[3])
local out = {}
for i = 1, s do
  out[i] = call('ZSCORE', KEYS[1], ARGV[3 + i])
  if not out[i] then out[i] = '0' end
end
local p = s + 4
while p <= #ARGV do
  -- The items of one scope are consecutive in a plan: one HMGET reads all of them.
  local scope = ARGV[p]
  local q = p
  local names = {}
  while q <= #ARGV and ARGV[q] == scope do
    names[#names + 1] = ARGV[q + 1]
    q = q + 3
  end
  local raws = call('HMGET', STATE_KEY .. scope, unpack(names))
  for j = 1, #names do
    local v = numbers(ARGV[p + 3 * j - 1])
    local state = parse_state(raws[j], scope, names[j], v[1])
    if not state then
      out[#out + 1] = false
    elseif state.lazy then
      if state.count == 0 then
        out[#out + 1] = ''
      else
        local _, dead = lz_first_live(state, now, { window = v[2], step = v[3] })
        out[#out + 1] = format_numbers({ state.last_b, state.total - dead })
      end
    else
      out[#out + 1] = format_numbers(state)
    end
  end
  p = q
end
return out
