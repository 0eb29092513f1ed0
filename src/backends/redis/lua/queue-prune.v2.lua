-- queue-prune (v2): deletes records of messages no longer queued, last updated before a time.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  before
-- Returns  the number of records deleted
local before = tonumber(ARGV[2])
local count = 0
local cursor = '0'
repeat
  local page = redis.call('HSCAN', K_REC, cursor, 'COUNT', 500)
  cursor = page[1]
  local entries = page[2]
  for i = 1, #entries, 2 do
    local id = entries[i]
    if tonumber(cjson.decode(entries[i + 1])[6]) < before and redis.call('HEXISTS', K_LIVE, id) == 0 then
      redis.call('HDEL', K_REC, id)
      count = count + 1
    end
  end
until cursor == '0'
return count
