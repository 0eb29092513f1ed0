-- queue-complete-messages (v2): the sender delivered some messages of a leased job (a partial outcome).
-- Those get their final record (as queue-complete writes it) and leave the job, which stays leased with
-- the rest: its messages m, ids and size n shrink, and each per-scope cost c becomes min(cost, n left).
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  job id   ARGV[3] lease owner   ARGV[4] now   ARGV[5..] delivered message ids (others ignored)
-- Returns  1 (also when none of the ids is the job's), 0 when the lease is not the job's (nothing
--          changed; counted stale)
--
-- How the job is cut without touching payloads: m and ids are the JSON arrays the client wrote with
-- JSON.stringify (no insignificant whitespace). split_array finds the byte range of each top-level
-- element by walking only the structural characters (strings are skipped whole, escapes included); the
-- kept elements are copied byte for byte into the new arrays. Nothing is decoded and re-encoded, so a
-- payload comes back exactly as it was sent ([] stays [], 0.30000000000000004 keeps its digits). Element
-- i of m is the message whose id is element i of ids (both were written from the same array).
local id = ARGV[2]
local now = fmt(tonumber(ARGV[4]))
local job = held(id, ARGV[3])
if not job then return 0 end

-- The top-level elements of a JSON array written by JSON.stringify, as byte ranges
-- { from1, to1, from2, to2, ... } into `text`; nil when the text is not such an array.
local function split_array(text)
  local out = {}
  if text == '[]' then return out end
  if string.sub(text, 1, 1) ~= '[' then return nil end
  local depth = 0
  local start = 2
  local pos = 2
  while true do
    local i, _, c = string.find(text, '([",%[%]{}])', pos)
    if not i then return nil end
    pos = i + 1
    if c == '"' then
      -- Skip the string: up to the next quote that no backslash escapes.
      while true do
        local k, _, d = string.find(text, '(["\\])', pos)
        if not k then return nil end
        if d == '"' then
          pos = k + 1
          break
        end
        pos = k + 2
      end
    elseif c == '[' or c == '{' then
      depth = depth + 1
    elseif c == ',' then
      if depth == 0 then
        out[#out + 1] = start
        out[#out + 1] = i - 1
        start = i + 1
      end
    elseif depth > 0 then
      depth = depth - 1
    elseif c == ']' and pos == #text + 1 then
      out[#out + 1] = start
      out[#out + 1] = i - 1
      return out
    else
      return nil
    end
  end
end

local delivered = {}
for i = 5, #ARGV do delivered[ARGV[i]] = true end
local ids = cjson.decode(job.ids)
local gone = {}
for i, mid in ipairs(ids) do
  if delivered[mid] then gone[#gone + 1] = i end
end
if #gone == 0 then return 1 end

local m_parts = split_array(job.m)
local id_parts = split_array(job.ids)
if not m_parts or not id_parts or #m_parts ~= 2 * #ids or #id_parts ~= 2 * #ids then
  return redis.error_reply('ERR queue-complete-messages: job ' .. id .. ' holds malformed messages')
end
local kept_m = {}
local kept_ids = {}
local is_gone = {}
for _, i in ipairs(gone) do is_gone[i] = true end
for i = 1, #ids do
  if not is_gone[i] then
    kept_m[#kept_m + 1] = string.sub(job.m, m_parts[2 * i - 1], m_parts[2 * i])
    kept_ids[#kept_ids + 1] = string.sub(job.ids, id_parts[2 * i - 1], id_parts[2 * i])
  end
end
local left = #kept_m
local key = JOB .. id
redis.call('HSET', key, 'm', '[' .. table.concat(kept_m, ',') .. ']', 'ids', '[' .. table.concat(kept_ids, ',') .. ']',
  'n', tostring(left))
if job.c then
  -- Costs are small numbers the store wrote (never payloads): decoding them is exact.
  local costs = cjson.decode(job.c)
  for scope, cost in pairs(costs) do
    if cost > left then costs[scope] = left end
  end
  redis.call('HSET', key, 'c', cjson.encode(costs))
end

-- The delivered messages: final records, no longer live.
local rec = cjson.encode({ 'passed-to-sender', job.p, job.a, job.err or NULL, job.e, now, now })
local mids = {}
local recs = {}
for _, i in ipairs(gone) do
  mids[#mids + 1] = ids[i]
  recs[#recs + 1] = ids[i]
  recs[#recs + 1] = rec
end
local CHUNK = 500
for from = 1, #mids, CHUNK do
  redis.call('HDEL', K_LIVE, unpack(mids, from, math.min(#mids, from + CHUNK - 1)))
end
for from = 1, #recs, 2 * CHUNK do
  redis.call('HSET', K_REC, unpack(recs, from, math.min(#recs, from + 2 * CHUNK - 1)))
end
redis.call('HINCRBY', K_COUNTERS, 'delivered', #gone)
return 1
