-- queue-get-record (v2): the record of one message, read atomically (a live message's status is its job's).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  message id
-- Returns  the record as JSON ([status, priority, attempts, lastError|null, createdAt, updatedAt,
--          deliveredAt|null]), or false when there is none
local raw = redis.call('HGET', K_REC, ARGV[2])
if not raw then return false end
if string.byte(raw, 1) ~= 64 then return raw end
local rec = live_record(string.sub(raw, 2))
if not rec then return false end
return cjson.encode(rec)
