-- queue-split-messages (v2): moves some messages of a leased job into a job of their own, leased under
-- the same lease (owner o and end lu), so that each part can be released or buried on its own (a partial
-- outcome whose failures differ). The new job copies the job's priority, lane, scopes, attempts,
-- enqueuedAt, notBefore, lastError and status, and holds the messages named (cut without touching
-- payloads: see queue/cut); each per-scope cost is capped by the size of its part. It has no place in
-- line (released, it joins the end of its line, like a job added leased); its lease order lo is its id,
-- so recover takes it back after the jobs leased before it. No status or counter changes.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  job id   ARGV[3] lease owner   ARGV[4..] message ids to move (others ignored)
-- Returns  the new job's id; the job's id when nothing is split off (none or all of its messages
--          named); nil when the lease is not the job's (nothing changed; counted stale)
-- @include queue/cut
local id = ARGV[2]
local job = held(id, ARGV[3])
if not job then return false end

local named = {}
for i = 4, #ARGV do named[ARGV[i]] = true end
local ids = cjson.decode(job.ids)
local moved = 0
for _, mid in ipairs(ids) do
  if named[mid] then moved = moved + 1 end
end
if moved == 0 or moved == #ids then return id end

local off, kept = cut_job(job, ids, named)
if not off then return malformed('queue-split-messages', job) end
local key = JOB .. id
redis.call('HSET', key, 'm', kept.m, 'ids', kept.ids, 'n', tostring(kept.n))
if job.c then redis.call('HSET', key, 'c', capped_costs(job.c, kept.n)) end

local status = redis.call('HMGET', key, 'rs', 'ru')
local new_id = tostring(next_seq())
local fields = { 'p', job.p, 'l', job.l, 's', job.s, 'm', off.m, 'ids', off.ids, 'n', tostring(off.n),
  'a', job.a, 'e', job.e, 'nb', job.nb, 'rs', status[1], 'ru', status[2], 'st', 'leased', 'o', job.o,
  'lu', job.lu, 'lo', new_id }
if job.err then
  fields[#fields + 1] = 'err'
  fields[#fields + 1] = job.err
end
if job.c then
  fields[#fields + 1] = 'c'
  fields[#fields + 1] = capped_costs(job.c, off.n)
end
redis.call('HSET', JOB .. new_id, unpack(fields))
redis.call('ZADD', K_LEASED, job.lu, new_id)
local pairs_live = {}
for _, mid in ipairs(off.list) do
  pairs_live[#pairs_live + 1] = mid
  pairs_live[#pairs_live + 1] = new_id
end
local CHUNK = 500
for from = 1, #pairs_live, 2 * CHUNK do
  redis.call('HSET', K_LIVE, unpack(pairs_live, from, math.min(#pairs_live, from + 2 * CHUNK - 1)))
end
return new_id
