-- queue-extend (v2): extends the leases an owner holds (only ever later).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  owner   ARGV[3] new lease end   ARGV[4..] job ids
-- Returns  the number of leases extended
local owner = ARGV[2]
local until_ = tonumber(ARGV[3])
local count = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  local job = get_job(id)
  if job and job.st == 'leased' and job.o == owner and tonumber(job.lu) < until_ then
    redis.call('HSET', JOB .. id, 'lu', ARGV[3])
    redis.call('ZADD', K_LEASED, ARGV[3], id)
    count = count + 1
  end
end
return count
