-- queue-add (v2): adds batches atomically, all or none.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  now
-- ARGV[3]  lease owner ('' = no lease: jobs wait, status enqueued; else leased, status passed-to-sender)
-- ARGV[4]  lease end
-- ARGV[5]  number of jobs N
-- ARGV[6..] N jobs: priority, lane, scopes JSON, per-scope costs JSON ('' = none), messages JSON,
--          message ids JSON, size
-- Returns  {'ok', jobId*} or {'dup', messageId*} (nothing written)
-- The shared keys are written once per call (live ids, records, each line, the sequence), not per job.
local now = ARGV[2]
local owner = ARGV[3]
local lease_until = ARGV[4]
local n = tonumber(ARGV[5])
local CHUNK = 500
local jobs = {}
local all = {}
for i = 1, n do
  local p = 6 + (i - 1) * 7
  local ids = cjson.decode(ARGV[p + 5])
  jobs[i] = { p = ARGV[p], l = ARGV[p + 1], s = ARGV[p + 2], c = ARGV[p + 3], m = ARGV[p + 4],
    ids = ARGV[p + 5], list = ids, n = ARGV[p + 6] }
  for _, id in ipairs(ids) do all[#all + 1] = id end
end
-- Duplicates, in order: ids repeated in the call or live in the queue.
local live = {}
for from = 1, #all, CHUNK do
  local to = math.min(#all, from + CHUNK - 1)
  local found = redis.call('HMGET', K_LIVE, unpack(all, from, to))
  for k = from, to do
    if found[k - from + 1] then live[all[k]] = true end
  end
end
local seen = {}
local taken = {}
for _, id in ipairs(all) do
  if seen[id] or live[id] then taken[#taken + 1] = id end
  seen[id] = true
end
if #taken > 0 then
  table.insert(taken, 1, 'dup')
  return taken
end
local status = 'enqueued'
if owner ~= '' then status = 'passed-to-sender' end
local out = { 'ok' }
-- Job ids are consecutive places of the sequence, in order (as one INCR per job would give).
local first = redis.call('INCRBY', K_SEQ, n) - n
local lines = {}
local leases = {}
local pairs_live = {}
for i, job in ipairs(jobs) do
  local seq = first + i
  local id = tostring(seq)
  local key = JOB .. id
  -- The costs field (c) goes in the same HSET: one command per job (a manager's batch without scopes
  -- still has costs, '{}').
  if owner ~= '' then
    if job.c ~= '' then
      redis.call('HSET', key, 'p', job.p, 'l', job.l, 's', job.s, 'm', job.m, 'ids', job.ids, 'n', job.n,
        'a', '0', 'e', now, 'nb', now, 'rs', status, 'ru', now, 'st', 'leased', 'o', owner,
        'lu', lease_until, 'lo', seq, 'c', job.c)
    else
      redis.call('HSET', key, 'p', job.p, 'l', job.l, 's', job.s, 'm', job.m, 'ids', job.ids, 'n', job.n,
        'a', '0', 'e', now, 'nb', now, 'rs', status, 'ru', now, 'st', 'leased', 'o', owner,
        'lu', lease_until, 'lo', seq)
    end
    leases[#leases + 1] = lease_until
    leases[#leases + 1] = id
  else
    if job.c ~= '' then
      redis.call('HSET', key, 'p', job.p, 'l', job.l, 's', job.s, 'm', job.m, 'ids', job.ids, 'n', job.n,
        'a', '0', 'e', now, 'nb', now, 'rs', status, 'ru', now, 'st', 'ready', 'c', job.c)
    else
      redis.call('HSET', key, 'p', job.p, 'l', job.l, 's', job.s, 'm', job.m, 'ids', job.ids, 'n', job.n,
        'a', '0', 'e', now, 'nb', now, 'rs', status, 'ru', now, 'st', 'ready')
    end
    local line = lines[job.p]
    if not line then
      line = {}
      lines[job.p] = line
    end
    line[#line + 1] = seq
    line[#line + 1] = id
  end
  for _, mid in ipairs(job.list) do
    pairs_live[#pairs_live + 1] = mid
    pairs_live[#pairs_live + 1] = id
  end
  out[#out + 1] = id
end
local function write(command, key, values)
  for from = 1, #values, 2 * CHUNK do
    redis.call(command, key, unpack(values, from, math.min(#values, from + 2 * CHUNK - 1)))
  end
end
write('ZADD', K_LEASED, leases)
for priority, members in pairs(lines) do write('ZADD', K_LINE[priority], members) end
-- A live message's record is its job's (see the library header): nothing to write in K_REC.
write('HSET', K_LIVE, pairs_live)
return out
