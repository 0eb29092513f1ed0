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
