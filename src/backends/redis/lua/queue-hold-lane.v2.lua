-- queue-hold-lane (v2): none of the lane's jobs is claimed before `until` (extends only).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  lane   ARGV[3] until
-- Returns  1 when the hold was extended
local current = tonumber(redis.call('HGET', K_HOLDS, ARGV[2])) or 0
if current < tonumber(ARGV[3]) then
  redis.call('HSET', K_HOLDS, ARGV[2], ARGV[3])
  redis.call('ZADD', K_HOLD_ENDS, ARGV[3], ARGV[2])
  return 1
end
return 0
