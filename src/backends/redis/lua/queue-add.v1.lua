-- queue-add (v1): adds batches atomically, all or none.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  now
-- ARGV[3]  lease owner ('' = no lease: jobs wait, status enqueued; else leased, status passed-to-sender)
-- ARGV[4]  lease end
-- ARGV[5]  number of jobs N
-- ARGV[6..] N jobs: priority, lane, scopes JSON, per-scope costs JSON ('' = none), messages JSON,
--          message ids JSON, size
-- Returns  {'ok', jobId*} or {'dup', messageId*} (nothing written)
local now = ARGV[2]
local owner = ARGV[3]
local lease_until = ARGV[4]
local n = tonumber(ARGV[5])
local seen = {}
local taken = {}
local jobs = {}
for i = 1, n do
  local p = 6 + (i - 1) * 7
  local ids = cjson.decode(ARGV[p + 5])
  jobs[i] = { p = ARGV[p], l = ARGV[p + 1], s = ARGV[p + 2], c = ARGV[p + 3], m = ARGV[p + 4],
    ids = ARGV[p + 5], list = ids, n = ARGV[p + 6] }
  for _, id in ipairs(ids) do
    if seen[id] or redis.call('HEXISTS', K_LIVE, id) == 1 then taken[#taken + 1] = id end
    seen[id] = true
  end
end
if #taken > 0 then
  table.insert(taken, 1, 'dup')
  return taken
end
local status = 'enqueued'
if owner ~= '' then status = 'passed-to-sender' end
local out = { 'ok' }
for _, job in ipairs(jobs) do
  local seq = next_seq()
  local id = tostring(seq)
  local key = JOB .. id
  redis.call('HSET', key, 'p', job.p, 'l', job.l, 's', job.s, 'm', job.m, 'ids', job.ids, 'n', job.n,
    'a', '0', 'e', now, 'nb', now, 'f', '0')
  if job.c ~= '' then redis.call('HSET', key, 'c', job.c) end
  if owner ~= '' then
    redis.call('HSET', key, 'st', 'leased', 'o', owner, 'lu', lease_until, 'lo', seq)
    redis.call('ZADD', K_LEASED, lease_until, id)
  else
    redis.call('HSET', key, 'st', 'ready', 'o', '', 'lu', '0')
    redis.call('ZADD', K_LINE[job.p], seq, id)
  end
  local rec = cjson.encode({ status, job.p, '0', NULL, now, now, NULL })
  for _, mid in ipairs(job.list) do
    redis.call('HSET', K_LIVE, mid, id)
    redis.call('HSET', K_REC, mid, rec)
  end
  out[#out + 1] = id
end
return out
