-- limits/sliding-window: mirrors src/algorithms/sliding-window.ts operation for operation (the list form
-- of limits/state decided in O(1), the array form exactly as in TypeScript).
-- @include limits/sliding-live
-- ---------------------------------------------------------------- sliding window, list form
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

-- Mirrors adjustAt (sliding-window.ts): a correction attributed to the past instant at (< now). Takes the
-- array form; returns an array.
local function sw_adjust_at(state, now, delta, rule, at)
  if state and state.lazy then state = lz_to_array(state) end
  local bucket = math.floor(at / rule.step)
  local nxt = {}
  if state then
    for i = sw_first_live(state, now, rule), #state do nxt[#nxt + 1] = state[i] end
  end
  if (bucket + 1) * rule.step + rule.window <= now then return nxt end
  if delta >= 0 then
    local i = #nxt - 1
    while i >= 1 and nxt[i] > bucket do i = i - 2 end
    if i >= 1 and nxt[i] == bucket then
      nxt[i + 1] = nxt[i + 1] + delta
    else
      table.insert(nxt, i + 2, delta)
      table.insert(nxt, i + 2, bucket)
    end
    return nxt
  end
  local refund = -delta
  local split = 1
  while split <= #nxt and nxt[split] <= bucket do split = split + 2 end
  local i = split - 2
  while i >= 1 and refund > 0 do
    local take = math.min(refund, nxt[i + 1])
    nxt[i + 1] = nxt[i + 1] - take
    refund = refund - take
    i = i - 2
  end
  i = split
  while i <= #nxt and refund > 0 do
    local take = math.min(refund, nxt[i + 1])
    nxt[i + 1] = nxt[i + 1] - take
    refund = refund - take
    i = i + 2
  end
  local out = {}
  for j = 1, #nxt, 2 do
    if nxt[j + 1] ~= 0 then
      out[#out + 1] = nxt[j]
      out[#out + 1] = nxt[j + 1]
    end
  end
  return out
end

local function sw_idle_at(state, rule)
  if state.lazy then
    if state.count == 0 then return -INF end
    return (state.last_b + 1) * rule.step + rule.window
  end
  if #state == 0 then return -INF end
  return (state[#state - 1] + 1) * rule.step + rule.window
end
