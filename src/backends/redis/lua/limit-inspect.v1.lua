-- limit-inspect (v1): reads the raw state of rules and the blocks of scopes, atomically.
-- The caller computes usage from them with the same pure algorithms as every other backend.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- KEYS[2..n]   {ns}:l:s:<scope>      hash: rule name -> state
-- ARGV[1]      number of scopes S
-- ARGV[2..]    S scopes, then (keyIndex, rule) pairs
-- Returns      S block ends ('0' when none), then one state string (or false) per pair
local s = tonumber(ARGV[1])
local out = {}
for i = 1, s do
  out[i] = redis.call('ZSCORE', KEYS[1], ARGV[1 + i]) or '0'
end
for p = s + 2, #ARGV, 2 do
  out[#out + 1] = redis.call('HGET', KEYS[tonumber(ARGV[p])], ARGV[p + 1])
end
return out
