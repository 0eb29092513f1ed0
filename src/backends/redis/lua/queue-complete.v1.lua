-- queue-complete (v1): the sender resolved: removes the jobs, records deliveredAt, counts delivered.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  now   ARGV[3..] job ids
-- Returns  the number of jobs completed
local now = fmt(tonumber(ARGV[2]))
local done = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local job = get_job(id)
  if job and job.st == 'leased' then
    redis.call('ZREM', K_LEASED, id)
    redis.call('ZREM', K_LINE[job.p], id)
    redis.call('DEL', JOB .. id)
    for _, mid in ipairs(cjson.decode(job.ids)) do
      redis.call('HDEL', K_LIVE, mid)
      local raw = redis.call('HGET', K_REC, mid)
      if raw then
        local rec = cjson.decode(raw)
        rec[1] = 'passed-to-sender'
        rec[6] = now
        rec[7] = now
        redis.call('HSET', K_REC, mid, cjson.encode(rec))
      end
    end
    redis.call('HINCRBY', K_COUNTERS, 'delivered', tonumber(job.n))
    done = done + 1
  end
end
return done
