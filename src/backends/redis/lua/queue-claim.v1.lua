-- queue-claim (v1): leases due jobs in priority order, FIFO within a priority, within a budget.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  now   ARGV[3] owner   ARGV[4] lease end   ARGV[5] max jobs
-- ARGV[6]  remaining (messages the quota has left)   ARGV[7] reserve (kept for critical jobs)
-- Returns  the claimed jobs (see job_reply)
local now = tonumber(ARGV[2])
local owner = ARGV[3]
local lease_until = ARGV[4]
local max_jobs = tonumber(ARGV[5])
local left = tonumber(ARGV[6])
local reserve = tonumber(ARGV[7])
local claimed = {}
for _, priority in ipairs(PRIORITIES) do
  local line = K_LINE[priority]
  local start = 0
  local stop = false
  while not stop do
    local ids = redis.call('ZRANGE', line, start, start + 99)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      if #claimed >= max_jobs then return claimed end
      if priority ~= 'critical' and left <= reserve then
        stop = true
        break
      end
      local job = get_job(id)
      if job and claimable(job, now) then
        local size = tonumber(job.n)
        if size > left then
          stop = true
          break
        end
        left = left - size
        local lo = next_seq()
        redis.call('HSET', JOB .. id, 'st', 'leased', 'o', owner, 'lu', lease_until, 'lo', lo)
        redis.call('ZADD', K_LEASED, lease_until, id)
        set_status(job, 'passed-to-sender', now)
        claimed[#claimed + 1] = job_reply(job)
      end
    end
    start = start + 100
  end
end
return claimed
