-- queue-complete (v2): the sender resolved: removes the jobs, records deliveredAt, counts delivered.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  now   ARGV[3..] leases: job id, owner, job id, owner, ...
-- Returns  the number of jobs completed; a lease that is not its job's (or repeats one completed in this
--          call) changes nothing and is counted stale
-- Reads only the job fields it needs (never the payload); the messages of a job share one final record,
-- encoded once; the shared keys are written once per chunk of jobs.
local now = fmt(tonumber(ARGV[2]))
local done = 0
local delivered = 0
local stale = 0
local CHUNK = 500
local seen = {}
for from = 3, #ARGV, 2 * CHUNK do
  local to = math.min(#ARGV, from + 2 * CHUNK - 1)
  local ids = {}
  local keys = {}
  local lines = {}
  local mids = {}
  local recs = {}
  for i = from, to, 2 do
    local id = ARGV[i]
    local v = redis.call('HMGET', JOB .. id, 'st', 'p', 'ids', 'n', 'a', 'err', 'e', 'o')
    if v[1] ~= 'leased' or v[8] ~= ARGV[i + 1] or seen[id] then
      stale = stale + 1
    else
      seen[id] = true
      ids[#ids + 1] = id
      keys[#keys + 1] = JOB .. id
      local line = lines[v[2]]
      if not line then
        line = {}
        lines[v[2]] = line
      end
      line[#line + 1] = id
      local rec
      if v[6] then
        rec = cjson.encode({ 'passed-to-sender', v[2], v[5], v[6], v[7], now, now })
      else
        -- No error text: every field is a priority word or a number (no character JSON escapes), so the
        -- record is joined as is, without building a table for cjson.
        rec = '["passed-to-sender","' .. v[2] .. '","' .. v[5] .. '",null,"' .. v[7] .. '","' .. now .. '","' .. now .. '"]'
      end
      -- One message (the common job): its id without a JSON parse when it needs no unescaping.
      local single = string.match(v[3], '^%["([^"\\]*)"%]$')
      if single then
        mids[#mids + 1] = single
        recs[#recs + 1] = single
        recs[#recs + 1] = rec
      else
        for _, mid in ipairs(cjson.decode(v[3])) do
          mids[#mids + 1] = mid
          recs[#recs + 1] = mid
          recs[#recs + 1] = rec
        end
      end
      delivered = delivered + tonumber(v[4])
    end
  end
  if #ids > 0 then
    redis.call('ZREM', K_LEASED, unpack(ids))
    for priority, members in pairs(lines) do redis.call('ZREM', K_LINE[priority], unpack(members)) end
    redis.call('DEL', unpack(keys))
    done = done + #ids
  end
  for m = 1, #mids, CHUNK do
    redis.call('HDEL', K_LIVE, unpack(mids, m, math.min(#mids, m + CHUNK - 1)))
  end
  for m = 1, #recs, 2 * CHUNK do
    redis.call('HSET', K_REC, unpack(recs, m, math.min(#recs, m + 2 * CHUNK - 1)))
  end
end
if delivered > 0 then redis.call('HINCRBY', K_COUNTERS, 'delivered', delivered) end
if stale > 0 then redis.call('HINCRBY', K_COUNTERS, 'stale', stale) end
return done
