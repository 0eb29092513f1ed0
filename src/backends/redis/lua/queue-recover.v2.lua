-- queue-recover (v2): returns jobs whose lease ended to the queue (at-least-once redelivery).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  now
-- Returns  the number of jobs recovered
local now = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYSCORE', K_LEASED, '-inf', ARGV[2])
local jobs = {}
for _, id in ipairs(ids) do
  jobs[#jobs + 1] = { id = id, lo = tonumber(redis.call('HGET', JOB .. id, 'lo')) or 0 }
end
-- In the order the leases were taken, like the memory store.
table.sort(jobs, function(a, b) return a.lo < b.lo end)
local count = 0
for _, entry in ipairs(jobs) do
  -- Whoever holds it: an expired lease is taken back from its owner.
  local job = get_job(entry.id)
  if job and job.st == 'leased' then
    release(job, now, now, false, false)
    count = count + 1
  end
end
return count
