-- queue-record (v2): records a status for messages that are not queued (the dropped* statuses).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  status   ARGV[3] priority   ARGV[4] now   ARGV[5] error ('' with ARGV[6] = '0': none)
-- ARGV[6]  '1' when an error is given   ARGV[7..] message ids
-- Returns  the number of records written
local status, priority, now = ARGV[2], ARGV[3], ARGV[4]
local err = NULL
if ARGV[6] == '1' then err = ARGV[5] end
for i = 7, #ARGV do
  local id = ARGV[i]
  local attempts, created = '0', now
  -- A live message keeps its status (its job holds it), as in the memory store.
  if redis.call('HEXISTS', K_LIVE, id) == 0 then
    local raw = redis.call('HGET', K_REC, id)
    if raw then
      local before = cjson.decode(raw)
      attempts, created = before[3], before[5]
    end
    redis.call('HSET', K_REC, id, cjson.encode({ status, priority, attempts, err, created, now, NULL }))
  end
end
if string.sub(status, 1, 7) == 'dropped' then redis.call('HINCRBY', K_COUNTERS, 'dropped', #ARGV - 6) end
return #ARGV - 6
