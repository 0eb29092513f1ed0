-- limits/sliding-live: where the live pairs of a list-form sliding-window log start (firstLive of
-- src/algorithms/sliding-window.ts), read in O(dead pairs) from the head of the log. Shared by the
-- sliding-window algorithm and limit-inspect, which needs nothing else of it.
-- @include limits/state
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
