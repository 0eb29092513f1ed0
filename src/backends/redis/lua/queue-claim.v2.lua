-- queue-claim (v2): leases due jobs in priority order, FIFO within a priority, within a budget.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  now   ARGV[3] owner   ARGV[4] lease end   ARGV[5] max jobs
-- ARGV[6]  remaining (messages the quota has left)   ARGV[7] reserve (kept for critical jobs)
-- Returns  the claimed jobs (see job_reply)
-- A job in line is read once, for exactly the fields its check and its reply need (never its message
-- ids); its lease and its messages' status are one write.
local now = tonumber(ARGV[2])
local owner = ARGV[3]
local lease_until = ARGV[4]
local max_jobs = tonumber(ARGV[5])
local left = tonumber(ARGV[6])
local reserve = tonumber(ARGV[7])
if max_jobs > 0 then end_holds(now, 1000) end
local ids_claimed = {}
local claimed = {}
local full = false
for _, priority in ipairs(PRIORITIES) do
  local line = K_LINE[priority]
  local start = 0
  local stop = false
  -- Pages of the line sized to what is still wanted (plus a few skipped jobs), at most 100 ids.
  local page = math.max(1, math.min(100, max_jobs - #claimed + 8))
  while not stop and not full do
    local ids = redis.call('ZRANGE', line, start, start + page - 1)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      if #claimed >= max_jobs then
        full = true
        break
      end
      if priority ~= 'critical' and left <= reserve then
        stop = true
        break
      end
      local v = redis.call('HMGET', JOB .. id, 'st', 'nb', 'l', 'n', 'p', 's', 'm', 'a', 'e', 'err', 'f', 'c')
      if v[1] and claimable_fields(v[1], v[2], v[3], now) then
        local size = tonumber(v[4])
        if size > left then
          stop = true
          break
        end
        left = left - size
        ids_claimed[#ids_claimed + 1] = id
        claimed[#claimed + 1] = reply_of(id, v[5], v[8], v[9], v[2], v[11], v[3], v[6], v[7], v[10], v[12])
      end
    end
    start = start + page
    page = 100
  end
  if full then break end
end
local n = #ids_claimed
if n == 0 then return claimed end
local first_lo = redis.call('INCRBY', K_SEQ, n) - n
local leases = {}
local at = fmt(now)
for k, id in ipairs(ids_claimed) do
  redis.call('HSET', JOB .. id, 'st', 'leased', 'o', owner, 'lu', lease_until, 'lo', first_lo + k,
    'rs', 'passed-to-sender', 'ru', at)
  -- Newest first: the leases share one score, and a small sorted set (a listpack) walks past every
  -- equal-score member that sorts before a new one; added in reverse claim order, most go in at once
  -- instead of each walking past all the others (zsetAdd was 8 % of a drain's Redis instructions).
  leases[2 * (n - k) + 1] = lease_until
  leases[2 * (n - k) + 2] = id
end
redis.call('ZADD', K_LEASED, unpack(leases))
return claimed
