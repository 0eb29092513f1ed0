-- limit-inspect (v2): reads the raw state of rules and the blocks of scopes, atomically.
-- The caller computes usage from them with the same pure algorithms as every other backend.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- ARGV[1]      the namespace's key prefix {ns}:l: (see includes/limits/keys.lua for the keys derived from it)
-- ARGV[2]      number of scopes S
-- ARGV[3..]    S scopes, then (scope, rule name) pairs
-- Returns      S block ends ('0' when none), then per pair the state as comma-joined numbers, or false
-- @include limits/state
local s = tonumber(ARGV[2])
local out = {}
for i = 1, s do
  out[i] = redis.call('ZSCORE', KEYS[1], ARGV[2 + i]) or '0'
end
for p = s + 3, #ARGV, 2 do
  local state = parse_state(redis.call('HGET', STATE_KEY .. ARGV[p], ARGV[p + 1]), ARGV[p], ARGV[p + 1])
  if not state then
    out[#out + 1] = false
  elseif state.lazy then
    out[#out + 1] = format_numbers(lz_to_array(state))
  else
    out[#out + 1] = format_numbers(state)
  end
end
return out
