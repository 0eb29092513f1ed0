-- ratekeeper limits library (v1), prepended to every limit-*.lua script by the loader.
-- Mirrors src/algorithms/*.ts and src/limiter/evaluate.ts operation for operation, in the same
-- floating-point order, so Redis decides exactly like the memory backend.
--
-- Rule state is stored in one hash per scope ({ns}:l:s:<scope>, field = rule name) as the
-- comma-joined numbers of the algorithm's state, each printed with %.17g so doubles round-trip.
-- Blocks live in one sorted set per namespace ({ns}:l:blocks, member = scope, score = until).

local INF = math.huge

local function fmt(x)
  return string.format('%.17g', x)
end

local function parse_state(s)
  if not s then return nil end
  local out = {}
  for part in string.gmatch(s, '[^,]+') do out[#out + 1] = tonumber(part) end
  return out
end

local function format_state(state)
  local parts = {}
  for i = 1, #state do parts[i] = fmt(state[i]) end
  return table.concat(parts, ',')
end

-- rule = { alg = 1 sliding | 2 token | 3 fixed, limit, window, capacity, step }

-- ---------------------------------------------------------------- sliding window
local function sw_first_live(state, now, rule)
  local i = 1
  while i <= #state and (state[i] + 1) * rule.step + rule.window <= now do i = i + 2 end
  return i
end

local function sw_wait(state, now, cost, rule)
  if cost > rule.capacity then return INF end
  if cost <= 0 then return 0 end
  if not state or #state == 0 then return 0 end
  local first = sw_first_live(state, now, rule)
  local used = 0
  for i = first, #state, 2 do used = used + state[i + 1] end
  local excess = used + cost - rule.limit
  if excess <= 0 then return 0 end
  for i = first, #state, 2 do
    excess = excess - state[i + 1]
    if excess <= 0 then return (state[i] + 1) * rule.step + rule.window - now end
  end
  return (state[#state - 1] + 1) * rule.step + rule.window - now
end

local function sw_remaining(state, now, rule)
  if not state or #state == 0 then return rule.limit end
  local used = 0
  for i = sw_first_live(state, now, rule), #state, 2 do used = used + state[i + 1] end
  return math.max(0, rule.limit - used)
end

local function sw_adjust(state, now, delta, rule)
  local bucket = math.floor(now / rule.step)
  local nxt = {}
  if state then
    for i = sw_first_live(state, now, rule), #state do nxt[#nxt + 1] = state[i] end
  end
  if delta >= 0 then
    local last = #nxt - 1
    if last >= 1 and nxt[last] >= bucket then
      nxt[last + 1] = nxt[last + 1] + delta
    else
      nxt[#nxt + 1] = bucket
      nxt[#nxt + 1] = delta
    end
    return nxt
  end
  local refund = -delta
  local i = #nxt - 1
  while i >= 1 and refund > 0 do
    local take = math.min(refund, nxt[i + 1])
    nxt[i + 1] = nxt[i + 1] - take
    refund = refund - take
    if nxt[i + 1] == 0 then
      table.remove(nxt, i + 1)
      table.remove(nxt, i)
    end
    i = i - 2
  end
  return nxt
end

local function sw_idle_at(state, rule)
  if #state == 0 then return -INF end
  return (state[#state - 1] + 1) * rule.step + rule.window
end

-- ---------------------------------------------------------------- token bucket (GCRA)
local function tb_tat(state, now)
  if state then return math.max(state[1], now) end
  return now
end

local function tb_wait(state, now, cost, rule)
  if cost > rule.capacity then return INF end
  if cost <= 0 then return 0 end
  local allow_at = tb_tat(state, now) - (rule.capacity - cost) * rule.step
  if allow_at <= now then return 0 end
  return allow_at - now
end

local function tb_remaining(state, now, rule)
  local tat = tb_tat(state, now)
  local function fits(units) return tat - (rule.capacity - units) * rule.step <= now end
  local units = math.max(0, math.floor(rule.capacity - (tat - now) / rule.step))
  if units + 1 <= rule.capacity and fits(units + 1) then units = units + 1 end
  while units > 0 and not fits(units) do units = units - 1 end
  return units
end

local function tb_charge(state, now, cost, rule)
  return { tb_tat(state, now) + cost * rule.step }
end

local function tb_adjust(state, now, delta, rule)
  return { math.max(now, tb_tat(state, now) + delta * rule.step) }
end

local function tb_idle_at(state, rule)
  return state[1]
end

-- ---------------------------------------------------------------- fixed window
local function fw_used(state, start)
  if state and state[1] == start then return state[2] end
  return 0
end

local function fw_wait(state, now, cost, rule)
  if cost > rule.capacity then return INF end
  if cost <= 0 then return 0 end
  local start = now - math.fmod(now, rule.window)
  if fw_used(state, start) + cost <= rule.limit then return 0 end
  return start + rule.window - now
end

local function fw_remaining(state, now, rule)
  local start = now - math.fmod(now, rule.window)
  return math.max(0, rule.limit - fw_used(state, start))
end

local function fw_adjust(state, now, delta, rule)
  local start = now - math.fmod(now, rule.window)
  return { start, math.max(0, fw_used(state, start) + delta) }
end

local function fw_idle_at(state, rule)
  return state[1] + rule.window
end

local ALGS = {
  { wait = sw_wait, remaining = sw_remaining, charge = sw_adjust, adjust = sw_adjust, idle_at = sw_idle_at },
  { wait = tb_wait, remaining = tb_remaining, charge = tb_charge, adjust = tb_adjust, idle_at = tb_idle_at },
  { wait = fw_wait, remaining = fw_remaining, charge = fw_adjust, adjust = fw_adjust, idle_at = fw_idle_at },
}

-- ---------------------------------------------------------------- state cache
-- States are loaded once per script call and written back once at the end, so a batch of
-- decisions sees each other's charges in order while touching each key only twice.
local cache = {}   -- hash key -> { field -> state | false }
local dirty = {}   -- list of { key, field, rule, now }
local dirty_seen = {}

local function load_state(key, field)
  local fields = cache[key]
  if not fields then
    fields = {}
    cache[key] = fields
  end
  local state = fields[field]
  if state == nil then
    state = parse_state(redis.call('HGET', key, field)) or false
    fields[field] = state
  end
  return state or nil
end

local function store_state(key, field, state, rule, now)
  cache[key][field] = state
  local id = key .. '\0' .. field
  local entry = dirty_seen[id]
  if entry then
    entry.rule = rule
    entry.now = now
  else
    entry = { key = key, field = field, rule = rule, now = now }
    dirty_seen[id] = entry
    dirty[#dirty + 1] = entry
  end
end

-- Writes every changed state; a key's TTL only ever grows, to the latest idleAt of its rules + grace.
local function flush(grace)
  local ttls = {}
  local order = {}
  for _, e in ipairs(dirty) do
    local state = cache[e.key][e.field]
    local idle = ALGS[e.rule.alg].idle_at(state, e.rule)
    if #state == 0 or idle <= e.now then
      redis.call('HDEL', e.key, e.field)
    else
      redis.call('HSET', e.key, e.field, format_state(state))
      local ttl = math.ceil(idle - e.now) + grace
      if not ttls[e.key] then order[#order + 1] = e.key end
      if not ttls[e.key] or ttls[e.key] < ttl then ttls[e.key] = ttl end
    end
  end
  for _, key in ipairs(order) do
    local ttl = ttls[key]
    if ttl > 9e15 then ttl = 9e15 end
    if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, string.format('%d', ttl)) end
  end
end

-- ---------------------------------------------------------------- requests
-- A request in ARGV, from position p:
--   now, nScopes, scope * nScopes, nItems,
--   (keyIndex, ruleName, algorithm, limit, windowMs, capacity, step, cost) * nItems
-- Returns the request table and the position after it.
local function read_request(p)
  local req = { now = tonumber(ARGV[p]), scopes = {}, items = {} }
  local n = tonumber(ARGV[p + 1])
  p = p + 2
  for i = 1, n do
    req.scopes[i] = ARGV[p]
    p = p + 1
  end
  n = tonumber(ARGV[p])
  p = p + 1
  for i = 1, n do
    req.items[i] = {
      key = KEYS[tonumber(ARGV[p])],
      field = ARGV[p + 1],
      rule = {
        alg = tonumber(ARGV[p + 2]),
        limit = tonumber(ARGV[p + 3]),
        window = tonumber(ARGV[p + 4]),
        capacity = tonumber(ARGV[p + 5]),
        step = tonumber(ARGV[p + 6]),
      },
      cost = tonumber(ARGV[p + 7]),
    }
    p = p + 8
  end
  return req, p
end

local block_cache = {}
local function blocked_until(blocks_key, scope)
  local until_ = block_cache[scope]
  if until_ == nil then
    until_ = tonumber(redis.call('ZSCORE', blocks_key, scope)) or 0
    block_cache[scope] = until_
  end
  return until_
end

-- Mirrors evaluate(): returns "allowed,retryAfterMs,remaining,limit,kind,index"
-- (kind 0 = none, 1 = item index, 2 = scope index; indexes 0-based as in the plan).
local function decide(blocks_key, req, charge)
  local now = req.now
  local wait = 0
  local blocked_scope = -1
  for i = 1, #req.scopes do
    local left = blocked_until(blocks_key, req.scopes[i]) - now
    if left > wait then
      wait = left
      blocked_scope = i
    end
  end
  local states = {}
  local blocked_item = -1
  local blocked_remaining = 0
  local tight_share = INF
  local tight_remaining = INF
  local tight_limit = INF
  for i = 1, #req.items do
    local item = req.items[i]
    local alg = ALGS[item.rule.alg]
    local state = load_state(item.key, item.field)
    states[i] = state
    local remaining = alg.remaining(state, now, item.rule)
    local w = alg.wait(state, now, item.cost, item.rule)
    if w > wait then
      wait = w
      blocked_item = i
      blocked_scope = -1
      blocked_remaining = remaining
    end
    local after = remaining - item.cost
    local share = 0
    if item.rule.limit > 0 then share = after / item.rule.limit end
    if share < tight_share then
      tight_share = share
      tight_remaining = math.max(0, after)
      tight_limit = item.rule.limit
    end
  end
  if wait <= 0 then
    if charge then
      for i = 1, #req.items do
        local item = req.items[i]
        local next_state = ALGS[item.rule.alg].charge(states[i], now, item.cost, item.rule)
        store_state(item.key, item.field, next_state, item.rule, now)
      end
    end
    return '1,0,' .. fmt(tight_remaining) .. ',' .. fmt(tight_limit) .. ',0,-1'
  end
  if blocked_item >= 1 then
    return '0,' .. fmt(wait) .. ',' .. fmt(blocked_remaining) .. ',' ..
      fmt(req.items[blocked_item].rule.limit) .. ',1,' .. (blocked_item - 1)
  end
  local limit = tight_limit
  if limit == INF then limit = 0 end
  return '0,' .. fmt(wait) .. ',0,' .. fmt(limit) .. ',2,' .. (blocked_scope - 1)
end
