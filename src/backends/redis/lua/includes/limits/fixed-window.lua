-- limits/fixed-window: mirrors src/algorithms/fixed-window.ts operation for operation.
-- @include limits/numbers
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
