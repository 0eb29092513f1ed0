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

-- Mirrors msUntil (src/algorithms/until.ts): the wait from now until at, nudged up so that
-- now + wait >= at holds in floating point.
local EPSILON = 2 ^ -52
local function ms_until(at, now)
  local wait = at - now
  local i = 0
  while i < 4 and now + wait < at do
    wait = wait + math.max(at - (now + wait), wait * EPSILON)
    i = i + 1
  end
  return wait
end

local function parse_state(s)
  if not s then return nil end
  local out = {}
  for part in string.gmatch(s, '[^,]+') do out[#out + 1] = tonumber(part) end
  return out
end

local STATE_FORMATS = { '%.17g', '%.17g,%.17g' }
local function format_state(state)
  local n = #state
  if n == 0 then return '' end
  local f = STATE_FORMATS[n]
  if not f then
    f = string.rep('%.17g,', n - 1) .. '%.17g'
    STATE_FORMATS[n] = f
  end
  return string.format(f, unpack(state))
end

-- A number for the reply: integral values as Lua numbers (Redis sends them as exact integers),
-- anything else (fractions, infinities) as a %.17g string.
local function out_num(x)
  if x == math.floor(x) and x > -9007199254740992 and x < 9007199254740992 then return x end
  return fmt(x)
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
    if excess <= 0 then return ms_until((state[i] + 1) * rule.step + rule.window, now) end
  end
  return ms_until((state[#state - 1] + 1) * rule.step + rule.window, now)
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
  return ms_until(allow_at, now)
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
  return ms_until(start + rule.window, now)
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
local created = {} -- hash key -> true when some field was missing at load: the key may have no TTL yet
local dirty = {}   -- list of { key, field, rule, now }
local dirty_seen = {} -- key -> field -> entry of dirty

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
    if not state then created[key] = true end
  end
  return state or nil
end

local function store_state(key, field, state, rule, now)
  cache[key][field] = state
  local seen = dirty_seen[key]
  if not seen then
    seen = {}
    dirty_seen[key] = seen
  end
  local entry = seen[field]
  if entry then
    entry.rule = rule
    entry.now = now
  else
    entry = { key = key, field = field, rule = rule, now = now }
    seen[field] = entry
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
    ttl = string.format('%d', ttl)
    -- Every write sets a TTL, so a key that had all its fields already has one: GT only ever extends it.
    -- A key that may be new has none (GT would treat it as infinite): check it first.
    if not created[key] then
      redis.call('PEXPIRE', key, ttl, 'GT')
    elseif redis.call('PTTL', key) < tonumber(ttl) then
      redis.call('PEXPIRE', key, ttl)
    end
  end
end

-- ---------------------------------------------------------------- requests
-- Numbers travel packed in comma-separated strings (one argument per rule and per request instead of
-- one per number): the argument count, not the Lua, dominates the cost of a batch on both sides.
local function numbers(text)
  local out = {}
  local n = 0
  for part in string.gmatch(text, '[^,]+') do
    n = n + 1
    out[n] = tonumber(part)
  end
  return out
end

-- Rules from ARGV at position p: count R, then R pairs ("id,algorithm,limit,windowMs,capacity,step", name).
-- Returns rules by id and the position after them.
local function read_rules(p)
  local rules = {}
  local r = tonumber(ARGV[p])
  p = p + 1
  for _ = 1, r do
    local v = numbers(ARGV[p])
    rules[v[1]] = { alg = v[2], limit = v[3], window = v[4], capacity = v[5], step = v[6], name = ARGV[p + 1] }
    p = p + 2
  end
  return rules, p
end

-- A request from ARGV at position p: "now,nScopes,nItems,(scopeIndex,ruleId,cost)*", then the scopes.
-- State keys are the state prefix followed by the scope: same hash tag as KEYS[1], so same slot.
local key_cache = {}
local function read_request(p, rules, state_prefix)
  local v = numbers(ARGV[p])
  local req = { now = v[1], scopes = {}, items = {} }
  local n_scopes = v[2]
  for i = 1, n_scopes do req.scopes[i] = ARGV[p + i] end
  local at = 4
  for i = 1, v[3] do
    local rule = rules[v[at + 1]]
    local scope = req.scopes[v[at]]
    local key = key_cache[scope]
    if not key then
      key = state_prefix .. scope
      key_cache[scope] = key
    end
    req.items[i] = { key = key, field = rule.name, rule = rule, cost = v[at + 2] }
    at = at + 3
  end
  return req, p + 1 + n_scopes
end

local block_cache = {}
local any_block = nil
local function blocked_until(blocks_key, scope)
  if any_block == nil then any_block = redis.call('ZCARD', blocks_key) > 0 end
  if not any_block then return 0 end
  local until_ = block_cache[scope]
  if until_ == nil then
    until_ = tonumber(redis.call('ZSCORE', blocks_key, scope)) or 0
    block_cache[scope] = until_
  end
  return until_
end

-- Mirrors evaluate(). Appends to `out`: allowed (1|0), retryAfterMs, remaining, limit, kind, index
-- (kind 0 = none, 1 = item index, 2 = scope index; indexes 0-based as in the plan).
local function decide(blocks_key, req, charge, out)
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
    local n = #out
    out[n + 1] = 1
    out[n + 2] = 0
    out[n + 3] = out_num(tight_remaining)
    out[n + 4] = out_num(tight_limit)
    out[n + 5] = 0
    out[n + 6] = -1
    return
  end
  local n = #out
  out[n + 1] = 0
  out[n + 2] = out_num(wait)
  if blocked_item >= 1 then
    out[n + 3] = out_num(blocked_remaining)
    out[n + 4] = out_num(req.items[blocked_item].rule.limit)
    out[n + 5] = 1
    out[n + 6] = blocked_item - 1
    return
  end
  local limit = tight_limit
  if limit == INF then limit = 0 end
  out[n + 3] = 0
  out[n + 4] = out_num(limit)
  out[n + 5] = 2
  out[n + 6] = blocked_scope - 1
end
