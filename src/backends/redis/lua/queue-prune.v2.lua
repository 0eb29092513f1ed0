-- queue-prune (v2): ONE bounded step of a prune. The client walks a hash with HSCAN cursors, one script
-- call per step, until the cursor comes back '0', so a queue of millions of records never blocks Redis
-- for long (each step reads about `count` entries; HSCAN may return a few more, or all of a small hash).
-- Target 'records': deletes records of finished messages (delivered or dropped: K_REC entries whose
--   message is not live) last updated before `before`.
-- Target 'holds': deletes lane holds that ended (until <= now).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  before   ARGV[3] now   ARGV[4] target: 'records' | 'holds'   ARGV[5] cursor ('0' to start)
-- ARGV[6]  count (entries per step)
-- Returns  { next cursor ('0' when done), number of records (or holds) deleted by this step }
local before = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local target = ARGV[4]
local key = K_REC
if target == 'holds' then key = K_HOLDS end
local page = redis.call('HSCAN', key, ARGV[5], 'COUNT', tonumber(ARGV[6]))
local entries = page[2]
local victims = {}
if target == 'holds' then
  for i = 1, #entries, 2 do
    if tonumber(entries[i + 1]) <= now then victims[#victims + 1] = entries[i] end
  end
else
  for i = 1, #entries, 2 do
    local rec = entries[i + 1]
    -- updatedAt is the next-to-last element, a JSON string of a number (see the library header), and
    -- the two last elements are short: read it from the record's tail without decoding the record (a
    -- tail that does not match, e.g. a long last error cut mid-way, is decoded instead).
    local updated = tonumber(string.match(rec, '"([^"]*)",[^,]*%]$', math.max(1, #rec - 64)) or '')
    if not updated then updated = tonumber(cjson.decode(rec)[6]) end
    if updated < before then victims[#victims + 1] = entries[i] end
  end
end
local CHUNK = 500
local deleted = 0
for from = 1, #victims, CHUNK do
  local slice = { unpack(victims, from, math.min(#victims, from + CHUNK - 1)) }
  if target == 'records' then
    -- A live message's record is its job's (an entry here is an older one it shadows): keep it.
    local live = redis.call('HMGET', K_LIVE, unpack(slice))
    local finished = {}
    for k = 1, #slice do
      if not live[k] then finished[#finished + 1] = slice[k] end
    end
    slice = finished
  end
  if #slice > 0 then
    deleted = deleted + redis.call('HDEL', key, unpack(slice))
    if target == 'holds' then redis.call('ZREM', K_HOLD_ENDS, unpack(slice)) end
  end
end
return { page[1], deleted }
