-- limit-reset (v2): forgets the rule states and block of one scope, or of the whole namespace.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- KEYS[2]      {ns}:l:s2:<scope>      the scope's state hash (one-scope reset only)
-- ARGV[1]      the namespace's key prefix {ns}:l: (see includes/limits/keys.lua for the keys derived from it)
-- ARGV[2]      'scope' or 'all'
-- ARGV[3]      scope: the scope name; all: a SCAN pattern matching every limit key of the namespace
-- Returns      the number of keys deleted
-- A whole-namespace reset scans the namespace's node: it is meant for tests and operators, not hot paths.
-- @include limits/keys
if ARGV[2] == 'scope' then
  local scope = ARGV[3]
  redis.call('ZREM', KEYS[1], scope)
  local deleted = 0
  for _, rule in ipairs(redis.call('HKEYS', KEYS[2])) do
    deleted = deleted + redis.call('DEL', log_key(scope, rule))
  end
  return deleted + redis.call('DEL', KEYS[2])
end
local deleted = redis.call('DEL', KEYS[1])
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[3], 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do deleted = deleted + redis.call('DEL', key) end
until cursor == '0'
return deleted
