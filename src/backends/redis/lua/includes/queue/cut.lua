-- queue/cut: cutting a job's messages in two without touching its payloads (queue-complete-messages,
-- queue-split-messages).
--
-- m and ids are the JSON arrays the client wrote with JSON.stringify (no insignificant whitespace).
-- split_array finds the byte range of each top-level element by walking only the structural characters
-- (strings are skipped whole, escapes included); the elements are copied byte for byte into the new
-- arrays. Nothing is decoded and re-encoded, so a payload comes back exactly as it was sent ([] stays
-- [], 0.30000000000000004 keeps its digits). Element i of m is the message whose id is element i of ids
-- (both were written from the same array).

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

-- The messages of `job` (from get_job; `ids`: its ids decoded) in two parts: those whose id is in the
-- set `take`, and the others, each { m = JSON text, ids = JSON text, list = ids, n = count }, in their
-- order; nil when the job's arrays are malformed (see malformed).
local function cut_job(job, ids, take)
  local m_parts = split_array(job.m)
  local id_parts = split_array(job.ids)
  if not m_parts or not id_parts or #m_parts ~= 2 * #ids or #id_parts ~= 2 * #ids then return nil end
  local taken = { m = {}, ids = {}, list = {} }
  local kept = { m = {}, ids = {}, list = {} }
  for i, mid in ipairs(ids) do
    local side = kept
    if take[mid] then side = taken end
    side.m[#side.m + 1] = string.sub(job.m, m_parts[2 * i - 1], m_parts[2 * i])
    side.ids[#side.ids + 1] = string.sub(job.ids, id_parts[2 * i - 1], id_parts[2 * i])
    side.list[#side.list + 1] = mid
  end
  for _, side in ipairs({ taken, kept }) do
    side.n = #side.list
    side.m = '[' .. table.concat(side.m, ',') .. ']'
    side.ids = '[' .. table.concat(side.ids, ',') .. ']'
  end
  return taken, kept
end

-- The error a script answers, before writing anything, when cut_job finds a job's arrays malformed.
local function malformed(script, job)
  return redis.error_reply('ERR ' .. script .. ': job ' .. job.id .. ' holds malformed messages')
end

-- A job's per-scope costs JSON with each cost capped at `n` messages (nil when the job has none). Costs
-- are small numbers the store wrote (never payloads): decoding them is exact.
local function capped_costs(c, n)
  if not c then return nil end
  local costs = cjson.decode(c)
  for scope, cost in pairs(costs) do
    if cost > n then costs[scope] = n end
  end
  return cjson.encode(costs)
end
