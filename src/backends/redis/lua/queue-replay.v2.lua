-- queue-replay (v2): puts matching dead letters back at the end of their line, attempts reset.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2..7] filter (see read_filter)   ARGV[8] now
-- Returns  the number of jobs replayed
local now = tonumber(ARGV[8])
local jobs = matching_dead(read_filter(2), nil)
for _, job in ipairs(jobs) do
  redis.call('ZREM', K_DEAD, dead_member(job.id))
  job.a = '0'
  job.nb = fmt(now)
  redis.call('HSET', JOB .. job.id, 'st', 'ready', 'a', '0', 'nb', job.nb)
  redis.call('ZADD', K_LINE[job.p], next_seq(), job.id)
  set_status(job, 'enqueued', now)
end
return #jobs
