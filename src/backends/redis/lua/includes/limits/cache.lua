-- limits/cache: the states a script call touches, loaded once and written back once by flush().
-- @include limits/algorithms
-- States are loaded once per script call and written back once at the end, so a batch of
-- decisions sees each other's charges in order while touching each key only twice.
-- One slot per (state key, rule name): key, scope, field, state (false when absent or another algorithm's),
-- idle0 and lazy0 (the idle time and list form of the state as loaded; idle0 false when absent or empty),
-- orphan (the field holds another algorithm's list-form sliding window, whose log goes when it is written
-- over: see limits/state), and once written: rule and now of the last write.
local cache = {}   -- scope -> { rule name -> slot }
local created = {} -- state key -> true when some field was missing at load: the key may have no TTL yet
local dirty = {}   -- written slots, in order of first write

local function new_slot(key, scope, field, rule, raw)
  local state, orphan = parse_state(raw, scope, field, rule.alg)
  local slot = { key = key, scope = scope, field = field, state = state or false, idle0 = false, orphan = orphan }
  if not raw then
    created[key] = true
  elseif state and not state_empty(state) then
    slot.idle0 = ALGS[rule.alg].idle_at(state, rule)
    slot.lazy0 = state.lazy
  end
  return slot
end

-- The slot of (scope, field), loaded on first use. `group` (optional: the items of a plan shape on this
-- scope, each { field, rule }, with group.names their fields, distinct) loads every rule state of the
-- scope the shape needs in one HMGET when the scope is first met, so a scope with several rules costs one
-- read, not one per rule. The cache is indexed by scope: a hit builds no key string.
local function slot_of(scope, field, rule, group)
  local fields = cache[scope]
  if fields then
    local slot = fields[field]
    if slot then return slot end
  else
    fields = {}
    cache[scope] = fields
    if group and group.names then
      local key = STATE_KEY .. scope
      local raws = call('HMGET', key, unpack(group.names))
      for j = 1, #group do
        local g = group[j]
        fields[g.field] = new_slot(key, scope, g.field, g.rule, raws[j])
      end
      return fields[field]
    end
  end
  local key = STATE_KEY .. scope
  local slot = new_slot(key, scope, field, rule, call('HGET', key, field))
  fields[field] = slot
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

-- Writes every changed state (one HSET per key, whatever its number of rules); a key's TTL only ever
-- grows, to the latest idleAt of its rules + grace.
local function flush(grace)
  local ttls = {}
  local order = {}
  -- Pending HSET of one key: the writes of consecutive slots of the same key (a scope's rules are
  -- consecutive in a plan) go out in one call; up to 2 fields without building an argument table.
  local w_key, w_f1, w_v1, w_f2, w_v2, w_more = nil, nil, nil, nil, nil, nil
  local function write_out()
    if not w_key then return end
    if w_more then
      call('HSET', w_key, w_f1, w_v1, w_f2, w_v2, unpack(w_more))
    elseif w_f2 then
      call('HSET', w_key, w_f1, w_v1, w_f2, w_v2)
    else
      call('HSET', w_key, w_f1, w_v1)
    end
    w_key, w_f1, w_v1, w_f2, w_v2, w_more = nil, nil, nil, nil, nil, nil
  end
  local function write(key, field, value)
    if key ~= w_key then
      write_out()
      w_key, w_f1, w_v1 = key, field, value
    elseif not w_f2 then
      w_f2, w_v2 = field, value
    else
      if not w_more then w_more = {} end
      w_more[#w_more + 1] = field
      w_more[#w_more + 1] = value
    end
  end
  for i = 1, #dirty do
    local e = dirty[i]
    local state = e.state
    local rule = e.rule
    local empty = state_empty(state)
    local idle = not empty and ALGS[rule.alg].idle_at(state, rule)
    if e.orphan then redis.call('DEL', log_key(e.scope, e.field)) end
    if empty or idle + grace <= e.now then
      redis.call('HDEL', e.key, e.field)
      if rule.alg == 1 then redis.call('DEL', log_key(e.scope, e.field)) end
    else
      write(e.key, e.field, format_state(state, rule.alg, e.scope, e.field))
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
  write_out()
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
