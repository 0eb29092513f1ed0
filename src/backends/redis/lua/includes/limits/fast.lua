-- limits/fast: the one-rule, one-scope batch decided without the general path's tables, and for fixed
-- windows with the algorithm written out (decide_fast_fw: the batch the peers are compared on). Both are
-- pinned to the general path by their own differential test (test/backends/redis-fast-path.test.ts).
-- @include limits/cache
-- @include limits/decide
-- ---------------------------------------------------------------- fast path: one rule, one scope
-- The common batch: every request is one scope under the same rule, and no scope is blocked. Decides and
-- writes exactly like decide() and flush() (same algorithm functions, same TTL rules), but states are
-- cached by scope (one rule: one field) and no table is built per decision.
local fast_states = {} -- scope -> state | false
local fast_idle0 = {}  -- scope -> idle time as loaded | false (absent: the key may have no TTL yet)
local fast_lazy0 = {}  -- scope -> whether the state was loaded in list form (sliding window)
local fast_now = {}    -- scope -> now of its last charge
local fast_orphan = {} -- scope -> true when its field holds another algorithm's list-form sliding window
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
    local orphan
    state, orphan = parse_state(call('HGET', STATE_KEY .. scope, rule.name), scope, rule.name, rule.alg)
    state = state or false
    fast_states[scope] = state
    fast_orphan[scope] = orphan
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
    local a, b, code
    if raw and #raw == 24 then a, b, code = sunpack('<ddd', raw) end
    if code == 3 then
      state = { a, b }
    else
      local orphan
      state, orphan = parse_state(raw, scope, rule.name, 3)
      state = state or false
      fast_orphan[scope] = orphan
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
    if fast_orphan[scope] then call('DEL', log_key(scope, field)) end
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
        call('HSET', key, field, spack('<ddd', state[1], state[2], rule.alg))
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
