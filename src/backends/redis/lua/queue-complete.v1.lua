-- queue-complete (v1): the sender resolved: removes the jobs, records deliveredAt, counts delivered.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  now   ARGV[3..] job ids
-- Returns  the number of jobs completed
-- Reads only the four job fields it needs (never the payload) and touches the shared keys once per
-- chunk of jobs (one ZREM, DEL, HDEL, HMGET and HSET of records for all of them).
local now = fmt(tonumber(ARGV[2]))
local done = 0
local delivered = 0
local CHUNK = 500
local seen = {}
for from = 3, #ARGV, CHUNK do
  local to = math.min(#ARGV, from + CHUNK - 1)
  local ids = {}
  local keys = {}
  local lines = {}
  local mids = {}
  for i = from, to do
    local id = ARGV[i]
    local v = redis.call('HMGET', JOB .. id, 'st', 'p', 'ids', 'n')
    if v[1] == 'leased' and not seen[id] then
      seen[id] = true
      ids[#ids + 1] = id
      keys[#keys + 1] = JOB .. id
      local line = lines[v[2]]
      if not line then
        line = {}
        lines[v[2]] = line
      end
      line[#line + 1] = id
      for _, mid in ipairs(cjson.decode(v[3])) do mids[#mids + 1] = mid end
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
    local part = { unpack(mids, m, math.min(#mids, m + CHUNK - 1)) }
    redis.call('HDEL', K_LIVE, unpack(part))
    local raws = redis.call('HMGET', K_REC, unpack(part))
    local writes = {}
    for k = 1, #part do
      local raw = raws[k]
      if raw then
        local rec = cjson.decode(raw)
        rec[1] = 'passed-to-sender'
        rec[6] = now
        rec[7] = now
        writes[#writes + 1] = part[k]
        writes[#writes + 1] = cjson.encode(rec)
      end
    end
    if #writes > 0 then redis.call('HSET', K_REC, unpack(writes)) end
  end
end
if delivered > 0 then redis.call('HINCRBY', K_COUNTERS, 'delivered', delivered) end
return done
