-- queue-bury (v2): moves a leased job to the dead letters.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  job id   ARGV[3] now   ARGV[4] error
-- Returns  1 when buried, 0 when the job was not leased
local id = ARGV[2]
local now = tonumber(ARGV[3])
local job = get_job(id)
if not job or job.st ~= 'leased' then return 0 end
redis.call('ZREM', K_LEASED, id)
redis.call('ZREM', K_LINE[job.p], id)
job.a = fmt(tonumber(job.a) + 1)
job.err = ARGV[4]
job.f = fmt(now)
redis.call('HSET', JOB .. id, 'st', 'dead', 'o', '', 'a', job.a, 'err', job.err, 'f', job.f)
redis.call('ZADD', K_DEAD, job.f, dead_member(id))
set_status(job, 'dead-lettered', now)
redis.call('HINCRBY', K_COUNTERS, 'deadLettered', tonumber(job.n))
return 1
