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
for _, job in ipairs(jobs) do
  if release(job.id, now, now, false, false) then count = count + 1 end
end
return count
