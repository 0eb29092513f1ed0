-- limits/decide: mirrors src/engine/evaluate.ts (decide) over the requests of limits/requests.
-- @include limits/cache
-- @include limits/requests
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
-- and returns the wait (0 when admitted). The caller reads the limit of an item from its plan.
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
    local slot = slot_of(ARGV[base + item.si], item.field, rule, item.group)
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
    return 0
  end
  if blocked_item >= 1 then
    out[n + 1] = -1
    out[n + 2] = out_num(wait)
    out[n + 3] = out_num(blocked_remaining)
    out[n + 4] = blocked_item - 1
    return wait
  end
  local limit = 0
  if tight > 0 then limit = items[tight].rule.limit end
  out[n + 1] = -2
  out[n + 2] = out_num(wait)
  out[n + 3] = out_num(limit)
  out[n + 4] = blocked_scope - 1
  return wait
end

-- Mirrors decideChoices() (src/engine/choices.ts): an endpoint pool, its choices (each the request's own
-- scopes plus one alternative) tried in order; the first admitted is charged and nothing else is; when all
-- are refused, the shortest wait (the first of equals) is answered. Appends what decide() answers for that
-- choice, then the index of its alternative.
local function decide_group(blocks_key, group, now, charge, out)
  local best, best_wait, best_alt = nil, INF, -1
  for j = 1, #group do
    local choice = group[j]
    local answer = {}
    local wait = decide(blocks_key, choice.shape, now, choice.base, charge, answer)
    if wait <= 0 or best == nil or wait < best_wait then
      best, best_wait, best_alt = answer, wait, choice.alt
      if wait <= 0 then break end
    end
  end
  local n = #out
  for i = 1, #best do out[n + i] = best[i] end
  out[n + #best + 1] = best_alt
end

-- Decides every request of the runs in order (charging when `charge`), appending each answer to `out`.
local function decide_runs(blocks_key, runs, charge, out)
  for r = 1, #runs do
    local run = runs[r]
    if run.group then
      decide_group(blocks_key, run.group, run.now, charge, out)
    else
      local shape, now, base = run.shape, run.now, run.base
      local step = shape.n_scopes
      for _ = 1, run.count do
        decide(blocks_key, shape, now, base, charge, out)
        base = base + step
      end
    end
  end
end
