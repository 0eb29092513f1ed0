-- queue-purge (v2): deletes matching dead letters and their messages' records.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2..7] filter (see read_filter)
-- Returns  the number of jobs purged
local jobs = matching_dead(read_filter(2), nil)
for _, job in ipairs(jobs) do
  redis.call('ZREM', K_DEAD, dead_member(job.id))
  redis.call('DEL', JOB .. job.id)
  for _, mid in ipairs(cjson.decode(job.ids)) do
    redis.call('HDEL', K_LIVE, mid)
    redis.call('HDEL', K_REC, mid)
  end
end
return #jobs
