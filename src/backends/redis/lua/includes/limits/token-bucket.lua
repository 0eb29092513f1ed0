-- limits/token-bucket: mirrors src/algorithms/token-bucket.ts (GCRA) operation for operation.
-- @include limits/numbers
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
