-- ratekeeper limits library (v2), prepended to every limit-*.lua script by the loader.
-- Mirrors src/algorithms/*.ts and src/limiter/evaluate.ts operation for operation, in the same
-- floating-point order, so Redis decides exactly like the memory backend.
--
-- Keys (ARGV[1] of every limit script is the namespace's key prefix {ns}:l: ; all share one hash tag):
--   {ns}:l:blocks                     sorted set, scope -> blocked until (ms)
--   {ns}:l:s2:<scope>                  hash, rule name -> state
--   {ns}:l:w2:<#scope>:<scope>:<rule>  list, the sub-window log of a sliding-window rule (packed b,u items)
-- Numbers are stored as little-endian IEEE doubles (struct '<d'), so they round-trip exactly and cost
-- no printing or parsing. Token bucket and fixed window states are their numbers packed (8 or 16 bytes).
-- A sliding-window state is 'i' followed by total, count, last b, last u, first b, first u when every
-- usage is an integer: the log itself is in the list (one packed "b,u" pair per item, every pair but the
-- last, which only the header holds: charging the current sub-window rewrites the header alone), so a
-- decision touches O(1) small values instead of reading and rewriting the whole log (total is the exact sum of
-- the log; integer sums are exact in any order, so results equal the in-order sums of
-- src/algorithms/sliding-window.ts). Otherwise (fractional usage) it is 'f' followed by b0,u0,b1,u1,…
-- packed, and handled exactly like the TypeScript arrays.

local INF = math.huge
-- Hot functions as locals (a global is two table lookups per use).
local call = redis.call
local fmod = math.fmod
local floor = math.floor
local max = math.max
local spack = struct.pack
local sunpack = struct.unpack

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

local PACK_FORMATS = {}
local function pack_format(n)
  local f = PACK_FORMATS[n]
  if not f then
    f = '<' .. string.rep('d', n)
    PACK_FORMATS[n] = f
  end
  return f
end

-- The doubles packed in raw from byte `from` on, as an array.
local function unpack_numbers(raw, from)
  local n = (#raw - from + 1) / 8
  if n == 2 then
    local a, b = sunpack('<dd', raw, from)
    return { a, b }
  end
  if n == 1 then return { (sunpack('<d', raw, from)) } end
  if n == 0 then return {} end
  local out = { sunpack(pack_format(n), raw, from) }
  out[n + 1] = nil -- struct.unpack also returns the next position
  return out
end

local function pack_numbers(state)
  local n = #state
  if n == 2 then return spack('<dd', state[1], state[2]) end
  if n == 1 then return spack('<d', state[1]) end
  if n == 0 then return '' end
  return spack(pack_format(n), unpack(state))
end

local function is_integer(x)
  return x == floor(x) and x > -9007199254740992 and x < 9007199254740992
end

-- A number for the reply: integral values as Lua numbers (Redis sends them as exact integers),
-- anything else (fractions, infinities) as a %.17g string.
local function out_num(x)
  if x == floor(x) and x > -9007199254740992 and x < 9007199254740992 then return x end
  return fmt(x)
end

-- The layout version is in the names (v2: packed doubles), so v1 scripts never read v2 states.
local STATE_KEY = ARGV[1] .. 's2:'
local LOG_KEY = ARGV[1] .. 'w2:'

local LENGTHS = {} -- n -> tostring(n): printing a number costs more than looking it up
local function log_key(scope, rule)
  local n = #scope
  local len = LENGTHS[n]
  if not len then
    len = tostring(n)
    LENGTHS[n] = len
  end
  return LOG_KEY .. len .. ':' .. scope .. ':' .. rule
end

local STATE_FORMATS = { '%.17g', '%.17g,%.17g' }
local function format_numbers(state)
  local n = #state
  if n == 0 then return '' end
  local f = STATE_FORMATS[n]
  if not f then
    f = string.rep('%.17g,', n - 1) .. '%.17g'
    STATE_FORMATS[n] = f
  end
  return string.format(f, unpack(state))
end

-- ---------------------------------------------------------------- sliding window, list form
-- { lazy = true, log = list key, total, count, last_b, last_u, first_b, first_u }

local function pair_of(item)
  local b, u = struct.unpack('<dd', item)
  return b, u
end

local function pair_item(b, u)
  return struct.pack('<dd', b, u)
end

-- The pair at 0-based index i of the log (nil if the log is gone: it expired before its header, which
-- only happens when a caller's clock lags real time by more than the grace).
local function lz_pair(state, i)
  if i == 0 then return state.first_b, state.first_u end
  if i == state.count - 1 then return state.last_b, state.last_u end
  local item = redis.call('LINDEX', state.log, i)
  if not item then return nil end
  return pair_of(item)
end

-- Index of the first live pair and the usage of the dead pairs before it (firstLive, without trimming).
local function lz_first_live(state, now, rule)
  if state.count == 0 then return 0, 0 end
  if (state.last_b + 1) * rule.step + rule.window <= now then return state.count, state.total end
  local i = 0
  local dead = 0
  while true do
    local b, u = lz_pair(state, i)
    if not b then return state.count, state.total end
    if (b + 1) * rule.step + rule.window > now then return i, dead end
    dead = dead + u
    i = i + 1
  end
end

local function lz_wait(state, now, cost, rule)
  if cost > rule.capacity then return INF end
  if cost <= 0 then return 0 end
  if state.count == 0 then return 0 end
  local first, dead = lz_first_live(state, now, rule)
  local excess = (state.total - dead) + cost - rule.limit
  if excess <= 0 then return 0 end
  local i = first
  -- The list holds every pair but the last; the last pair's time is the answer once the list is spent.
  while i < state.count - 1 do
    local items = redis.call('LRANGE', state.log, i, i + 63)
    if #items == 0 then break end
    for _, item in ipairs(items) do
      local b, u = pair_of(item)
      excess = excess - u
      if excess <= 0 then return ms_until((b + 1) * rule.step + rule.window, now) end
    end
    i = i + #items
  end
  return ms_until((state.last_b + 1) * rule.step + rule.window, now)
end

local function lz_remaining(state, now, rule)
  if state.count == 0 then return rule.limit end
  local _, dead = lz_first_live(state, now, rule)
  return math.max(0, rule.limit - (state.total - dead))
end

-- A charge (delta >= 0, an integer): trims dead pairs, then adds to the newest pair or appends one.
-- Writes the log at once (the script is atomic); the header is written by flush().
-- Updates the state in place (the state cache owns it) and returns it.
local function lz_add(state, now, delta, rule)
  local bucket = floor(now / rule.step)
  local first, dead = lz_first_live(state, now, rule)
  local log = state.log
  local st = state
  st.total = st.total - dead
  st.count = st.count - first
  if first > 0 then
    if st.count == 0 then
      redis.call('DEL', log)
    else
      redis.call('LTRIM', log, first, -1)
      local item = st.count > 1 and redis.call('LINDEX', log, 0)
      if item then
        st.first_b, st.first_u = pair_of(item)
      else
        st.first_b, st.first_u = st.last_b, st.last_u
      end
    end
  end
  if st.count > 0 and st.last_b >= bucket then
    st.last_u = st.last_u + delta
    if st.count == 1 then st.first_u = st.last_u end
  else
    -- The last pair lives in the header only: it enters the list when a newer one replaces it.
    if st.count > 0 then redis.call('RPUSH', log, pair_item(st.last_b, st.last_u)) end
    st.count = st.count + 1
    st.last_b, st.last_u = bucket, delta
    if st.count == 1 then st.first_b, st.first_u = bucket, delta end
  end
  st.total = st.total + delta
  return st
end

-- The log as the algorithms' array (for refunds and fractional charges, which take the array path).
local function lz_to_array(state)
  local out = {}
  if state.count == 0 then return out end
  if state.count > 1 then
    for _, item in ipairs(redis.call('LRANGE', state.log, 0, -1)) do
      local b, u = pair_of(item)
      out[#out + 1] = b
      out[#out + 1] = u
    end
  end
  out[#out + 1] = state.last_b
  out[#out + 1] = state.last_u
  return out
end

-- Reads a stored state: nil, an array, or a list-form sliding-window state.
local function parse_state(raw, scope, rule_name)
  if not raw then return nil end
  if #raw % 8 == 0 then return unpack_numbers(raw, 1) end
  if string.byte(raw, 1) == 105 then -- 'i'
    local total, count, last_b, last_u, first_b, first_u = struct.unpack('<dddddd', raw, 2)
    return { lazy = true, log = log_key(scope, rule_name), total = total, count = count, last_b = last_b,
      last_u = last_u, first_b = first_b, first_u = first_u }
  end
  return unpack_numbers(raw, 2)
end

local function state_empty(state)
  if state.lazy then return state.count == 0 end
  return #state == 0
end

-- The value to store for a non-empty state; an array sliding-window log with integer usage moves
-- (back) into its list.
local function format_state(state, alg, scope, rule_name)
  if alg ~= 1 then return pack_numbers(state) end
  if not state.lazy then
    local log = log_key(scope, rule_name)
    redis.call('DEL', log)
    local items = {}
    local total = 0
    local n = #state
    for i = 1, n, 2 do
      if not is_integer(state[i + 1]) then return 'f' .. pack_numbers(state) end
      if i < n - 1 then items[#items + 1] = pair_item(state[i], state[i + 1]) end
      total = total + state[i + 1]
    end
    if #items > 0 then redis.call('RPUSH', log, unpack(items)) end
    state = { lazy = true, log = log, total = total, count = n / 2, first_b = state[1], first_u = state[2],
      last_b = state[n - 1], last_u = state[n] }
  end
  return 'i' .. struct.pack('<dddddd', state.total, state.count, state.last_b, state.last_u, state.first_b,
    state.first_u)
end

-- ---------------------------------------------------------------- sliding window
local function sw_first_live(state, now, rule)
  local i = 1
  while i <= #state and (state[i] + 1) * rule.step + rule.window <= now do i = i + 2 end
  return i
end

local function sw_wait(state, now, cost, rule)
  if state and state.lazy then return lz_wait(state, now, cost, rule) end
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
  if state and state.lazy then return lz_remaining(state, now, rule) end
  if not state or #state == 0 then return rule.limit end
  local used = 0
  for i = sw_first_live(state, now, rule), #state, 2 do used = used + state[i + 1] end
  return math.max(0, rule.limit - used)
end

local function sw_adjust(state, now, delta, rule, log)
  if state and state.lazy then
    if delta >= 0 and is_integer(delta) then return lz_add(state, now, delta, rule) end
    state = lz_to_array(state)
  elseif not state and delta >= 0 and is_integer(delta) then
    return lz_add({ lazy = true, log = log, total = 0, count = 0 }, now, delta, rule)
  end
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
  if state.lazy then
    if state.count == 0 then return -INF end
    return (state.last_b + 1) * rule.step + rule.window
  end
  if #state == 0 then return -INF end
  return (state[#state - 1] + 1) * rule.step + rule.window
end

-- ---------------------------------------------------------------- token bucket (GCRA)
local function tb_tat(state, now)
  if state then return max(state[1], now) end
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
  local units = max(0, floor(rule.capacity - (tat - now) / rule.step))
  if units + 1 <= rule.capacity and fits(units + 1) then units = units + 1 end
  while units > 0 and not fits(units) do units = units - 1 end
  return units
end

-- Charges and adjustments update a loaded state in place (the state cache owns it) or create one.
local function tb_charge(state, now, cost, rule)
  local tat = tb_tat(state, now) + cost * rule.step
  if state then
    state[1] = tat
    return state
  end
  return { tat }
end

local function tb_adjust(state, now, delta, rule)
  local tat = max(now, tb_tat(state, now) + delta * rule.step)
  if state then
    state[1] = tat
    return state
  end
  return { tat }
end

local function tb_idle_at(state, rule)
  return state[1]
end

-- ---------------------------------------------------------------- fixed window
-- Mirrors currentWindow(): the newer of the stored window and the aligned window of now (a lagging clock
-- never moves a window backwards).
local function fw_start(state, now, rule)
  local start = now - fmod(now, rule.window)
  if state and state[1] > start then return state[1] end
  return start
end

local function fw_used(state, start)
  if state and state[1] == start then return state[2] end
  return 0
end

local function fw_wait(state, now, cost, rule)
  if cost > rule.capacity then return INF end
  if cost <= 0 then return 0 end
  local start = fw_start(state, now, rule)
  if fw_used(state, start) + cost <= rule.limit then return 0 end
  return ms_until(start + rule.window, now)
end

local function fw_remaining(state, now, rule)
  if not state then return rule.limit end
  return max(0, rule.limit - fw_used(state, fw_start(state, now, rule)))
end

local function fw_adjust(state, now, delta, rule)
  local start = fw_start(state, now, rule)
  local used = max(0, fw_used(state, start) + delta)
  if state then
    state[1] = start
    state[2] = used
    return state
  end
  return { start, used }
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
-- One slot per (state key, rule name): key, scope, field, state (false when absent), idle0 and lazy0 (the
-- idle time and list form of the state as loaded; idle0 false when absent or empty), and once written:
-- rule and now of the last write.
local cache = {}   -- state key -> { rule name -> slot }
local created = {} -- state key -> true when some field was missing at load: the key may have no TTL yet
local dirty = {}   -- written slots, in order of first write

local function slot_of(scope, field, rule)
  local key = STATE_KEY .. scope
  local fields = cache[key]
  if not fields then
    fields = {}
    cache[key] = fields
  end
  local slot = fields[field]
  if not slot then
    local state = parse_state(redis.call('HGET', key, field), scope, field)
    slot = { key = key, scope = scope, field = field, state = state or false, idle0 = false }
    if not state then
      created[key] = true
    elseif not state_empty(state) then
      slot.idle0 = ALGS[rule.alg].idle_at(state, rule)
      slot.lazy0 = state.lazy
    end
    fields[field] = slot
  end
  return slot
end

local function store(slot, state, rule, now)
  slot.state = state
  if not slot.rule then dirty[#dirty + 1] = slot end
  slot.rule = rule
  slot.now = now
end

-- The state after charging or adjusting (a sliding-window log needs its list key when it is created).
local function apply(alg_fn, state, now, amount, rule, scope, field)
  if rule.alg == 1 and not (state and state.lazy) then
    return alg_fn(state, now, amount, rule, log_key(scope, field))
  end
  return alg_fn(state, now, amount, rule)
end

-- Writes every changed state; a key's TTL only ever grows, to the latest idleAt of its rules + grace.
local function flush(grace)
  local ttls = {}
  local order = {}
  for i = 1, #dirty do
    local e = dirty[i]
    local state = e.state
    local rule = e.rule
    local empty = state_empty(state)
    local idle = not empty and ALGS[rule.alg].idle_at(state, rule)
    if empty or idle + grace <= e.now then
      redis.call('HDEL', e.key, e.field)
      if rule.alg == 1 then redis.call('DEL', log_key(e.scope, e.field)) end
    else
      redis.call('HSET', e.key, e.field, format_state(state, rule.alg, e.scope, e.field))
      -- Unchanged idle time (same window, same sub-window): the TTLs set when it was reached still hold.
      if idle ~= e.idle0 or (rule.alg == 1 and not (e.lazy0 and state.lazy)) then
        local ttl = math.ceil(idle - e.now) + grace
        if ttl > 9e15 then ttl = 9e15 end
        if rule.alg == 1 then
          -- A log lives no longer than its rule's own idle time (its TTL is simply set; PEXPIRE does
          -- nothing when the state has no log, being fractional).
          redis.call('PEXPIRE', log_key(e.scope, e.field), string.format('%d', ttl))
        end
        local before = ttls[e.key]
        if not before then order[#order + 1] = e.key end
        if not before or before < ttl then ttls[e.key] = ttl end
      end
    end
  end
  for _, key in ipairs(order) do
    local ttl = string.format('%d', ttls[key])
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
-- Numbers travel packed in comma-separated strings (one argument per rule and per run of requests
-- instead of one per number): the argument count, not the Lua, dominates the cost of a batch on both sides.
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

-- Plan shapes from ARGV at position p: count P, then P strings "nScopes,nItems,(scopeIndex,ruleId,cost)*".
-- Requests of one shape (same rules, same costs; typically all requests of a batch) share its parse.
local function read_shapes(p, rules)
  local shapes = {}
  local count = tonumber(ARGV[p])
  p = p + 1
  for s = 1, count do
    local v = numbers(ARGV[p])
    local items = {}
    local at = 3
    for i = 1, v[2] do
      local rule = rules[v[at + 1]]
      items[i] = { si = v[at], field = rule.name, rule = rule, alg = ALGS[rule.alg], cost = v[at + 2] }
      at = at + 3
    end
    shapes[s] = { n_scopes = v[1], items = items }
    p = p + 1
  end
  return shapes, p
end

-- Runs of requests from ARGV at position p: count of runs, then per run "count,shapeIndex,now" followed by
-- its requests, each the shape's nScopes scopes (a run's requests share shape and time).
-- Returns the runs ({ shape, now, count, base }: a request's scopes are ARGV[base + 1 .. base + nScopes],
-- base growing by nScopes per request) and the earliest time among them.
local function read_runs(p, shapes)
  local runs = {}
  local min_now = INF
  local count = tonumber(ARGV[p])
  p = p + 1
  for r = 1, count do
    local v = numbers(ARGV[p])
    local shape = shapes[v[2]]
    runs[r] = { shape = shape, now = v[3], count = v[1], base = p }
    if v[3] < min_now then min_now = v[3] end
    p = p + 1 + v[1] * shape.n_scopes
  end
  return runs, min_now
end

local block_cache = {}
local any_block = nil
local function blocked_until(blocks_key, scope)
  local until_ = block_cache[scope]
  if until_ == nil then
    until_ = tonumber(redis.call('ZSCORE', blocks_key, scope)) or 0
    block_cache[scope] = until_
  end
  return until_
end

local slots = {} -- the slots of the request being decided (reused: no table per decision)

-- Mirrors evaluate(). Appends to `out`, per request:
--   admitted:            tightest item (1-based; 0 when none), remaining
--   refused by an item:  -1, retryAfterMs, remaining, item index (0-based)
--   refused by a block:  -2, retryAfterMs, limit, scope index (0-based)
-- The caller reads the limit of an item from its plan.
local function decide(blocks_key, shape, now, base, charge, out)
  local wait = 0
  local blocked_scope = -1
  if any_block == nil then any_block = redis.call('ZCARD', blocks_key) > 0 end
  if any_block then
    for i = 1, shape.n_scopes do
      local left = blocked_until(blocks_key, ARGV[base + i]) - now
      if left > wait then
        wait = left
        blocked_scope = i
      end
    end
  end
  local items = shape.items
  local blocked_item = -1
  local blocked_remaining = 0
  local tight_share = INF
  local tight_remaining = INF
  local tight = 0
  for i = 1, #items do
    local item = items[i]
    local rule = item.rule
    local alg = item.alg
    local slot = slot_of(ARGV[base + item.si], item.field, rule)
    slots[i] = slot
    local state = slot.state or nil
    local remaining = alg.remaining(state, now, rule)
    local w = alg.wait(state, now, item.cost, rule)
    if w > wait then
      wait = w
      blocked_item = i
      blocked_scope = -1
      blocked_remaining = remaining
    end
    local after = remaining - item.cost
    local share = 0
    if rule.limit > 0 then share = after / rule.limit end
    if share < tight_share then
      tight_share = share
      tight_remaining = math.max(0, after)
      tight = i
    end
  end
  local n = #out
  if wait <= 0 then
    if charge then
      for i = 1, #items do
        local item = items[i]
        local slot = slots[i]
        local rule = item.rule
        store(slot, apply(item.alg.charge, slot.state or nil, now, item.cost, rule, slot.scope, item.field), rule, now)
      end
    end
    out[n + 1] = tight
    out[n + 2] = out_num(tight_remaining)
    return
  end
  if blocked_item >= 1 then
    out[n + 1] = -1
    out[n + 2] = out_num(wait)
    out[n + 3] = out_num(blocked_remaining)
    out[n + 4] = blocked_item - 1
    return
  end
  local limit = 0
  if tight > 0 then limit = items[tight].rule.limit end
  out[n + 1] = -2
  out[n + 2] = out_num(wait)
  out[n + 3] = out_num(limit)
  out[n + 4] = blocked_scope - 1
end

-- Decides every request of the runs in order (charging when `charge`), appending each answer to `out`.
local function decide_runs(blocks_key, runs, charge, out)
  for r = 1, #runs do
    local run = runs[r]
    local shape, now, base = run.shape, run.now, run.base
    local step = shape.n_scopes
    for _ = 1, run.count do
      decide(blocks_key, shape, now, base, charge, out)
      base = base + step
    end
  end
end

-- ---------------------------------------------------------------- fast path: one rule, one scope
-- The common batch: every request is one scope under the same rule, and no scope is blocked. Decides and
-- writes exactly like decide() and flush() (same algorithm functions, same TTL rules), but states are
-- cached by scope (one rule: one field) and no table is built per decision.
local fast_states = {} -- scope -> state | false
local fast_idle0 = {}  -- scope -> idle time as loaded | false (absent: the key may have no TTL yet)
local fast_lazy0 = {}  -- scope -> whether the state was loaded in list form (sliding window)
local fast_now = {}    -- scope -> now of its last charge
local fast_dirty = {}  -- charged scopes, in order of first charge

-- The batch's rule when the fast path applies, else nil.
local function fast_rule(shapes, blocks_key)
  local rule = nil
  for s = 1, #shapes do
    local shape = shapes[s]
    if shape.n_scopes ~= 1 or #shape.items ~= 1 then return nil end
    local r = shape.items[1].rule
    if rule and r ~= rule then return nil end
    rule = r
  end
  if any_block == nil then any_block = call('ZCARD', blocks_key) > 0 end
  if any_block then return nil end
  return rule
end

local function decide_fast(rule, alg, cost, scope, now, out)
  local state = fast_states[scope]
  if state == nil then
    state = parse_state(call('HGET', STATE_KEY .. scope, rule.name), scope, rule.name) or false
    fast_states[scope] = state
    if state then
      fast_idle0[scope] = not state_empty(state) and alg.idle_at(state, rule)
      fast_lazy0[scope] = state.lazy or false
    else
      fast_idle0[scope] = false
      fast_lazy0[scope] = false
    end
  end
  local st = state or nil
  local remaining = alg.remaining(st, now, rule)
  local wait = alg.wait(st, now, cost, rule)
  local n = #out
  if wait > 0 then
    out[n + 1] = -1
    out[n + 2] = out_num(wait)
    out[n + 3] = out_num(remaining)
    out[n + 4] = 0
    return
  end
  local next_state
  if rule.alg == 1 and not (st and st.lazy) then
    next_state = alg.charge(st, now, cost, rule, log_key(scope, rule.name))
  else
    next_state = alg.charge(st, now, cost, rule)
  end
  if next_state ~= state then fast_states[scope] = next_state end
  if not fast_now[scope] then fast_dirty[#fast_dirty + 1] = scope end
  fast_now[scope] = now
  local after = remaining - cost
  local share = 0
  if rule.limit > 0 then share = after / rule.limit end
  if share < INF then
    out[n + 1] = 1
    out[n + 2] = out_num(max(0, after))
  else
    out[n + 1] = 0
    out[n + 2] = out_num(INF)
  end
end

-- decide_fast for a fixed window, with fw_remaining, fw_wait and fw_adjust written out (same operations
-- in the same order): the batch the peers are compared on, where calls cost more than the arithmetic.
local function decide_fast_fw(rule, cost, scope, now, out)
  local state = fast_states[scope]
  local window = rule.window
  if state == nil then
    local raw = call('HGET', STATE_KEY .. scope, rule.name)
    if raw and #raw == 16 then
      local a, b = sunpack('<dd', raw)
      state = { a, b }
    else
      state = parse_state(raw, scope, rule.name) or false
    end
    fast_states[scope] = state
    fast_idle0[scope] = state and state[1] + window
  end
  local start = now - fmod(now, window)
  if state and state[1] > start then start = state[1] end
  local used = 0
  if state and state[1] == start then used = state[2] end
  local limit = rule.limit
  local remaining = max(0, limit - used)
  local wait = 0
  if cost > rule.capacity then
    wait = INF
  elseif cost > 0 and used + cost > limit then
    wait = ms_until(start + window, now)
  end
  local n = #out
  if wait > 0 then
    out[n + 1] = -1
    out[n + 2] = out_num(wait)
    out[n + 3] = out_num(remaining)
    out[n + 4] = 0
    return
  end
  if state then
    state[1] = start
    state[2] = max(0, used + cost)
  else
    fast_states[scope] = { start, max(0, used + cost) }
  end
  if not fast_now[scope] then fast_dirty[#fast_dirty + 1] = scope end
  fast_now[scope] = now
  local after = remaining - cost
  local share = 0
  if limit > 0 then share = after / limit end
  if share < INF then
    out[n + 1] = 1
    out[n + 2] = out_num(max(0, after))
  else
    out[n + 1] = 0
    out[n + 2] = out_num(INF)
  end
end

local function flush_fast(grace, rule, alg)
  local field = rule.name
  for i = 1, #fast_dirty do
    local scope = fast_dirty[i]
    local state = fast_states[scope]
    local now = fast_now[scope]
    local key = STATE_KEY .. scope
    local sliding = rule.alg == 1
    local empty = sliding and state_empty(state)
    local idle
    if rule.alg == 3 then
      idle = state[1] + rule.window
    elseif not empty then
      idle = alg.idle_at(state, rule)
    end
    if empty or idle + grace <= now then
      call('HDEL', key, field)
      if sliding then call('DEL', log_key(scope, field)) end
    else
      if sliding then
        call('HSET', key, field, format_state(state, 1, scope, field))
      elseif #state == 2 then
        call('HSET', key, field, spack('<dd', state[1], state[2]))
      else
        call('HSET', key, field, pack_numbers(state))
      end
      local idle0 = fast_idle0[scope]
      if idle ~= idle0 or (sliding and not (fast_lazy0[scope] and state.lazy)) then
        local ttl = math.ceil(idle - now) + grace
        if ttl > 9e15 then ttl = 9e15 end
        local text = string.format('%d', ttl)
        -- As in flush(): a log lives no longer than its rule's own idle time.
        if sliding then call('PEXPIRE', log_key(scope, field), text) end
        if idle0 then
          call('PEXPIRE', key, text, 'GT')
        elseif call('PTTL', key) < ttl then
          call('PEXPIRE', key, text)
        end
      end
    end
  end
end
