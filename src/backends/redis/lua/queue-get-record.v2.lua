-- queue-get-record (v2): the record of one message, read atomically (a live message's status is its job's).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  message id
-- Returns  the record as JSON ([status, priority, attempts, lastError|null, createdAt, updatedAt,
--          deliveredAt|null]), or false when there is none
local job_id = redis.call('HGET', K_LIVE, ARGV[2])
if job_id then
  local rec = live_record(job_id)
  if rec then return cjson.encode(rec) end
end
return redis.call('HGET', K_REC, ARGV[2]) or false
