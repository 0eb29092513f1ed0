-- limits/state: reading and writing stored rule states.
-- Token bucket and fixed window states are their numbers packed (8 or 16 bytes).
-- A sliding-window state is 'i' followed by total, count, last b, last u, first b, first u when every
-- usage is an integer: the log itself is in the list (one packed "b,u" pair per item, every pair but the
-- last, which only the header holds: charging the current sub-window rewrites the header alone), so a
-- decision touches O(1) small values instead of reading and rewriting the whole log (total is the exact sum of
-- the log; integer sums are exact in any order, so results equal the in-order sums of
-- src/algorithms/sliding-window.ts). Otherwise (fractional usage) it is 'f' followed by b0,u0,b1,u1,…
-- packed, and handled exactly like the TypeScript arrays.
-- @include limits/numbers
-- @include limits/keys
-- ---------------------------------------------------------------- sliding window, list form
-- { lazy = true, log = list key, total, count, last_b, last_u, first_b, first_u }

local function pair_of(item)
  local b, u = struct.unpack('<dd', item)
  return b, u
end

local function pair_item(b, u)
  return struct.pack('<dd', b, u)
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
