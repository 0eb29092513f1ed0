-- queue-extend (v2): extends leases that are still held (only ever later).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  new lease end   ARGV[3..] leases: job id, owner, job id, owner, ...
-- Returns  the positions (1-based, in the order given) of the leases not held (each counted stale):
--          another owner, or the same one under a newer lease, holds the job now
local until_ = tonumber(ARGV[2])
local lost = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local v = redis.call('HMGET', JOB .. id, 'st', 'o', 'lu')
  if v[1] == 'leased' and v[2] == ARGV[i + 1] then
    if tonumber(v[3]) < until_ then
      redis.call('HSET', JOB .. id, 'lu', ARGV[2])
      redis.call('ZADD', K_LEASED, ARGV[2], id)
    end
  else
    lost[#lost + 1] = (i - 1) / 2
  end
end
if #lost > 0 then redis.call('HINCRBY', K_COUNTERS, 'stale', #lost) end
return lost
