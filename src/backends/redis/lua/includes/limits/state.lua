-- limits/state: reading and writing stored rule states. Every form tells the algorithm that wrote it, so that
-- a rule which keeps its name but changes its algorithm reads another algorithm's state as absent (it starts
-- over) instead of misreading its numbers:
--   token bucket     its TAT packed (8 bytes);
--   fixed window     start, used and the algorithm's code 3 packed (24 bytes); anchored window: code 4;
--                    16 bytes (start, used) were written before the code: fixed or anchored, which cannot be
--                    told apart, read as the rule's own (so existing states keep their usage);
--   sliding window   'i' or 'f' first, as below (8n + 1 bytes).
-- The code is a third number, not a leading byte, so that scripts of an earlier version sharing the keys (a
-- rolling upgrade) still read start and used of their own algorithm's states, and keep the code when they
-- write them back (they update states in place).
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

-- Reads a stored state for a rule of algorithm `alg` (1 sliding window, 2 token bucket, 3 fixed window,
-- 4 anchored window): nil when absent or written by another algorithm, an array, or a list-form
-- sliding-window state. The second value is true when the state is another algorithm's list-form sliding
-- window: its log (limits/keys) must be deleted when the field is written over.
local function parse_state(raw, scope, rule_name, alg)
  if not raw then return nil end
  local n = #raw
  if n % 8 == 1 then
    local list = string.byte(raw, 1) == 105 -- 'i'
    if alg ~= 1 then return nil, list end
    if list then
      local total, count, last_b, last_u, first_b, first_u = struct.unpack('<dddddd', raw, 2)
      return { lazy = true, log = log_key(scope, rule_name), total = total, count = count, last_b = last_b,
        last_u = last_u, first_b = first_b, first_u = first_u }
    end
    return unpack_numbers(raw, 2)
  end
  if n == 8 then
    if alg == 2 then return unpack_numbers(raw, 1) end
    return nil
  end
  if n == 24 then
    local a, b, code = sunpack('<ddd', raw)
    if code == alg then return { a, b } end
    return nil
  end
  if n == 16 and (alg == 3 or alg == 4) then return unpack_numbers(raw, 1) end
  return nil
end

local function state_empty(state)
  if state.lazy then return state.count == 0 end
  return #state == 0
end

-- The value to store for a non-empty state; an array sliding-window log with integer usage moves
-- (back) into its list.
local function format_state(state, alg, scope, rule_name)
  if alg == 3 or alg == 4 then return spack('<ddd', state[1], state[2], alg) end
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
