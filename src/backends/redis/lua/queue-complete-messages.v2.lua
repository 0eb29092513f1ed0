-- queue-complete-messages (v2): the sender delivered some messages of a leased job (a partial outcome).
-- Those get their final record (as queue-complete writes it) and leave the job, which stays leased with
-- the rest: its messages m, ids and size n shrink, and each per-scope cost c becomes min(cost, n left).
-- The job is cut without touching payloads (see queue/cut).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  job id   ARGV[3] lease owner   ARGV[4] now   ARGV[5..] delivered message ids (others ignored)
-- Returns  1 (also when none of the ids is the job's), 0 when the lease is not the job's (nothing
--          changed; counted stale)
-- @include queue/cut
local id = ARGV[2]
local now = fmt(tonumber(ARGV[4]))
local job = held(id, ARGV[3])
if not job then return 0 end

local delivered = {}
for i = 5, #ARGV do delivered[ARGV[i]] = true end
local ids = cjson.decode(job.ids)
local any = false
for _, mid in ipairs(ids) do
  if delivered[mid] then
    any = true
    break
  end
end
if not any then return 1 end

local gone, kept = cut_job(job, ids, delivered)
if not gone then return malformed('queue-complete-messages', job) end
local key = JOB .. id
redis.call('HSET', key, 'm', kept.m, 'ids', kept.ids, 'n', tostring(kept.n))
if job.c then redis.call('HSET', key, 'c', capped_costs(job.c, kept.n)) end

-- The delivered messages: final records, no longer live.
local rec = cjson.encode({ 'passed-to-sender', job.p, job.a, job.err or NULL, job.e, now, now })
local mids = gone.list
local recs = {}
for _, mid in ipairs(mids) do
  recs[#recs + 1] = mid
  recs[#recs + 1] = rec
end
local CHUNK = 500
for from = 1, #mids, CHUNK do
  redis.call('HDEL', K_LIVE, unpack(mids, from, math.min(#mids, from + CHUNK - 1)))
end
for from = 1, #recs, 2 * CHUNK do
  redis.call('HSET', K_REC, unpack(recs, from, math.min(#recs, from + 2 * CHUNK - 1)))
end
redis.call('HINCRBY', K_COUNTERS, 'delivered', gone.n)
return 1
