-- limits/anchored-window: mirrors src/algorithms/anchored-window.ts operation for operation.
-- @include limits/numbers
-- Mirrors isCurrent(): the stored window counts while now < start + window (also for a now before its
-- start: a lagging clock never opens an older window over it).
local function aw_current(state, now, rule)
  return state and now < state[1] + rule.window
end

local function aw_wait(state, now, cost, rule)
  if cost > rule.capacity then return INF end
  if cost <= 0 then return 0 end
  if not aw_current(state, now, rule) then return 0 end
  if state[2] + cost <= rule.limit then return 0 end
  return ms_until(state[1] + rule.window, now)
end

local function aw_remaining(state, now, rule)
  if not aw_current(state, now, rule) then return rule.limit end
  return max(0, rule.limit - state[2])
end

-- at (optional): the instant of the charge corrected (see anchoredWindow.adjust).
local function aw_adjust(state, now, delta, rule, at)
  if aw_current(state, now, rule) then
    if at and at < state[1] then return state end
    state[2] = max(0, state[2] + delta)
    return state
  end
  local start, used = now, delta
  if delta < 0 or (at and at < now) then start, used = now - rule.window, 0 end
  if state then
    state[1] = start
    state[2] = used
    return state
  end
  return { start, used }
end

local function aw_idle_at(state, rule)
  return state[1] + rule.window
end
