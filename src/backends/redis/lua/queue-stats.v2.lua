-- queue-stats (v2): messages per state and the lifetime counters.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  now
-- Returns  queued critical, normal, optional, retrying, inFlight, deadLettered,
--          delivered, dropped, deadLettered counter, retried, stale (numbers as strings)
local now = tonumber(ARGV[2])
local queued = { critical = 0, normal = 0, optional = 0 }
local retrying = 0
for _, priority in ipairs(PRIORITIES) do
  for _, id in ipairs(redis.call('ZRANGE', K_LINE[priority], 0, -1)) do
    local v = redis.call('HMGET', JOB .. id, 'st', 'a', 'nb', 'n')
    if v[1] == 'ready' then
      if tonumber(v[2]) > 0 and tonumber(v[3]) > now then
        retrying = retrying + tonumber(v[4])
      else
        queued[priority] = queued[priority] + tonumber(v[4])
      end
    end
  end
end
local in_flight = 0
for _, id in ipairs(redis.call('ZRANGE', K_LEASED, 0, -1)) do
  in_flight = in_flight + (tonumber(redis.call('HGET', JOB .. id, 'n')) or 0)
end
local dead = 0
for _, member in ipairs(redis.call('ZRANGE', K_DEAD, 0, -1)) do
  dead = dead + (tonumber(redis.call('HGET', JOB .. tostring(tonumber(member)), 'n')) or 0)
end
local c = redis.call('HMGET', K_COUNTERS, 'delivered', 'dropped', 'deadLettered', 'retried', 'stale')
return { tostring(queued.critical), tostring(queued.normal), tostring(queued.optional), tostring(retrying),
  tostring(in_flight), tostring(dead), c[1] or '0', c[2] or '0', c[3] or '0', c[4] or '0', c[5] or '0' }
