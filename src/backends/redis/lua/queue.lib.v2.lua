-- ratekeeper queue library (v2), prepended to every queue-*.lua script by the loader.
-- Mirrors src/backends/memory/queue-store.ts. Every queue script receives the same keys:
--
-- KEYS[1]  {q}:seq        counter: job ids and places in line
-- KEYS[2]  {q}:line:critical   sorted set, place -> job id (waiting and leased jobs keep their place)
-- KEYS[3]  {q}:line:normal
-- KEYS[4]  {q}:line:optional
-- KEYS[5]  {q}:leased     sorted set, lease end -> job id
-- KEYS[6]  {q}:dead       sorted set, failedAt -> zero-padded job id (ties in id order)
-- KEYS[7]  {q}:live       hash, message id -> job id, for every queued, leased or dead message
-- KEYS[8]  {q}:rec2       hash, message id -> record of a message whose job is gone (delivered) or that
--                         was never queued (dropped), a JSON array of strings:
--                         [status, priority, attempts, lastError|null, createdAt, updatedAt, deliveredAt|null]
--                         While a message's job lives (KEYS[7] names it), its record is the job's (the job
--                         holds its messages' status: one write per status change, whatever the batch
--                         size) and shadows any older entry here.
-- KEYS[9]  {q}:holds      hash, lane -> held until
-- KEYS[10] {q}:counters   hash: delivered, dropped, deadLettered, retried
-- KEYS[11] {q}:hold-ends  sorted set, hold end -> lane (a claim ends the holds that are over by it), stale (operations refused
--                         because their lease was not the job's: see held)
-- ARGV[1]  {q}:j:         prefix of job hashes; {q}:j:<id> holds
--                         p priority, l lane, s scopes JSON, c per-scope costs JSON (absent: none),
--                         m messages JSON (opaque; cut between messages by queue-complete-messages
--                         and queue-split-messages, never decoded), ids message ids JSON (element i
--                         is the id of message i),
--                         n size, a attempts, e enqueuedAt, nb notBefore, err lastError (absent: null),
--                         st ready|leased|dead, o owner (the lease token that every script acting on a
--                         leased job checks: see held) and lu lease end (while leased), lo lease order,
--                         f failedAt (absent until buried: '0'),
--                         rs its messages' status, ru when rs was set (a live message's record is
--                         rs, p, a, err, e, ru, null)
-- Times are the caller's clock, passed in ARGV. Numbers are stored with %.17g.

local K_SEQ = KEYS[1]
local K_LINE = { critical = KEYS[2], normal = KEYS[3], optional = KEYS[4] }
local K_LEASED = KEYS[5]
local K_DEAD = KEYS[6]
local K_LIVE = KEYS[7]
local K_REC = KEYS[8]
local K_HOLDS = KEYS[9]
local K_COUNTERS = KEYS[10]
local K_HOLD_ENDS = KEYS[11]
local JOB = ARGV[1]
local PRIORITIES = { 'critical', 'normal', 'optional' }
local RANK = { critical = 0, normal = 1, optional = 2 }
local NULL = cjson.null

local function fmt(x)
  return string.format('%.17g', x)
end

local function dead_member(id)
  return string.format('%020d', tonumber(id))
end

local function next_seq()
  return redis.call('INCR', K_SEQ)
end

-- The fields a reply or a decision needs, as a table (nil when the job does not exist).
local FIELDS = { 'p', 'l', 's', 'm', 'ids', 'n', 'a', 'e', 'nb', 'err', 'st', 'o', 'lu', 'lo', 'f', 'c' }
local function get_job(id)
  local values = redis.call('HMGET', JOB .. id, unpack(FIELDS))
  if not values[11] then return nil end
  local job = { id = id }
  for i = 1, #FIELDS do job[FIELDS[i]] = values[i] end
  return job
end

-- A job as returned to the client: "id,priority,attempts,enqueuedAt,notBefore,failedAt" (ASCII words and
-- numbers, joined: fewer strings to decode), then lane, scopes, messages, lastError (false = null), costs
-- JSON (false = none).
local function reply_of(id, p, a, e, nb, f, l, s, m, err, c)
  return { id .. ',' .. p .. ',' .. a .. ',' .. e .. ',' .. nb .. ',' .. (f or '0'), l, s, m, err or false, c or false }
end

local function job_reply(job)
  return reply_of(job.id, job.p, job.a, job.e, job.nb, job.f, job.l, job.s, job.m, job.err, job.c)
end

-- Sets the status of a job's messages (their records read attempts and lastError from the job).
local function set_status(job, status, now)
  redis.call('HSET', JOB .. job.id, 'rs', status, 'ru', fmt(now))
end

-- The record of a live message, from its job (nil when the job is gone).
local function live_record(job_id)
  local v = redis.call('HMGET', JOB .. job_id, 'rs', 'p', 'a', 'err', 'e', 'ru')
  if not v[1] then return nil end
  return { v[1], v[2], v[3], v[4] or NULL, v[5], v[6], NULL }
end

-- Ends the holds that are over at `now` (at most `limit` of them): a claim does this first, so that a
-- clock that steps back afterwards (another process's) does not bring an ended hold back.
local function end_holds(now, limit)
  local lanes = redis.call('ZRANGEBYSCORE', K_HOLD_ENDS, '-inf', fmt(now), 'LIMIT', 0, limit)
  for _, lane in ipairs(lanes) do
    local until_ = tonumber(redis.call('HGET', K_HOLDS, lane))
    if until_ and until_ <= now then redis.call('HDEL', K_HOLDS, lane) end
  end
  if #lanes > 0 then redis.call('ZREM', K_HOLD_ENDS, unpack(lanes)) end
end

local hold_cache = {}
-- Whether a job (its status, notBefore and lane) can be claimed now.
local function claimable_fields(st, nb, lane, now)
  if st ~= 'ready' or tonumber(nb) > now then return false end
  local until_ = hold_cache[lane]
  if until_ == nil then
    until_ = tonumber(redis.call('HGET', K_HOLDS, lane)) or 0
    hold_cache[lane] = until_
  end
  return until_ <= now
end

local function claimable(job, now)
  return claimable_fields(job.st, job.nb, job.l, now)
end

-- Fencing: the job when the lease (job id, owner) is still its lease, else nil, counted stale. A stale
-- owner (its lease expired and the job was recovered, or another owner claimed it since) changes nothing.
local function held(id, owner)
  local job = get_job(id)
  if job and job.st == 'leased' and job.o == owner then return job end
  redis.call('HINCRBY', K_COUNTERS, 'stale', 1)
  return nil
end

-- Returns a leased job (from get_job) to its place in line (or the end of the line if it never had one).
-- no_attempt: a failure that counts no attempt (a receiver's retry-after answer).
local function release(job, now, not_before, failed, err, no_attempt)
  local id = job.id
  redis.call('ZREM', K_LEASED, id)
  local key = JOB .. id
  if failed then
    if not no_attempt then job.a = fmt(tonumber(job.a) + 1) end
    job.err = err
    redis.call('HINCRBY', K_COUNTERS, 'retried', 1)
  end
  job.st = 'ready'
  job.nb = fmt(not_before)
  redis.call('HSET', key, 'st', 'ready', 'o', '', 'nb', job.nb, 'a', job.a)
  if job.err then redis.call('HSET', key, 'err', job.err) else redis.call('HDEL', key, 'err') end
  local line = K_LINE[job.p]
  if not redis.call('ZSCORE', line, id) then redis.call('ZADD', line, next_seq(), id) end
  set_status(job, failed and 'retrying' or 'enqueued', now)
end

-- Dead-letter filter from ARGV at position p:
--   jobIds JSON or '', messageIds JSON or '', priority or '', hasLane '0'|'1', lane, failedBefore or ''
local function read_filter(p)
  local filter = {}
  local function set_of(text)
    if text == '' then return nil end
    local set = {}
    for _, v in ipairs(cjson.decode(text)) do set[v] = true end
    return set
  end
  filter.job_ids = set_of(ARGV[p])
  filter.message_ids = set_of(ARGV[p + 1])
  if ARGV[p + 2] ~= '' then filter.priority = ARGV[p + 2] end
  if ARGV[p + 3] == '1' then filter.lane = ARGV[p + 4] end
  if ARGV[p + 5] ~= '' then filter.failed_before = tonumber(ARGV[p + 5]) end
  return filter
end

local function matches(job, filter)
  if filter.job_ids and not filter.job_ids[job.id] then return false end
  if filter.priority and job.p ~= filter.priority then return false end
  if filter.lane and job.l ~= filter.lane then return false end
  if filter.failed_before and tonumber(job.f) >= filter.failed_before then return false end
  if filter.message_ids then
    for _, id in ipairs(cjson.decode(job.ids)) do
      if filter.message_ids[id] then return true end
    end
    return false
  end
  return true
end

-- Dead jobs matching a filter, oldest failure first (ties in id order).
local function matching_dead(filter, limit)
  local out = {}
  local max = '+inf'
  if filter.failed_before then max = '(' .. fmt(filter.failed_before) end
  local members = redis.call('ZRANGEBYSCORE', K_DEAD, '-inf', max)
  for _, member in ipairs(members) do
    if limit and #out >= limit then break end
    local job = get_job(tostring(tonumber(member)))
    if job and matches(job, filter) then out[#out + 1] = job end
  end
  return out
end
