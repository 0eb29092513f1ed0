-- queue-bury (v2): moves a leased job to the dead letters.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  job id   ARGV[3] lease owner   ARGV[4] now   ARGV[5] error
-- Returns  1 when buried, 0 when the lease is not the job's (nothing changed; counted stale)
local id = ARGV[2]
local now = tonumber(ARGV[4])
local job = held(id, ARGV[3])
if not job then return 0 end
redis.call('ZREM', K_LEASED, id)
redis.call('ZREM', K_LINE[job.p], id)
job.a = fmt(tonumber(job.a) + 1)
job.err = ARGV[5]
job.f = fmt(now)
redis.call('HSET', JOB .. id, 'st', 'dead', 'o', '', 'a', job.a, 'err', job.err, 'f', job.f)
redis.call('ZADD', K_DEAD, job.f, dead_member(id))
set_status(job, 'dead-lettered', now)
redis.call('HINCRBY', K_COUNTERS, 'deadLettered', tonumber(job.n))
return 1
