-- limits/numbers: number helpers every limit script shares (printing, packing, the msUntil mirror) and
-- the parser of comma-packed arguments. Mirrors src/algorithms/until.ts.
-- Numbers are stored as little-endian IEEE doubles (struct '<d'), so they round-trip exactly and cost
-- no printing or parsing.
local INF = math.huge
-- Hot functions as locals (a global is two table lookups per use).
local call = redis.call
local fmod = math.fmod
local floor = math.floor
local max = math.max
local spack = struct.pack
local sunpack = struct.unpack

local function fmt(x)
  return string.format('%.17g', x)
end

-- Mirrors msUntil (src/algorithms/until.ts): the wait from now until at, nudged up so that
-- now + wait >= at holds in floating point.
local EPSILON = 2 ^ -52
local function ms_until(at, now)
  local wait = at - now
  local i = 0
  while i < 4 and now + wait < at do
    wait = wait + math.max(at - (now + wait), wait * EPSILON)
    i = i + 1
  end
  return wait
end

local PACK_FORMATS = {}
local function pack_format(n)
  local f = PACK_FORMATS[n]
  if not f then
    f = '<' .. string.rep('d', n)
    PACK_FORMATS[n] = f
  end
  return f
end

-- The doubles packed in raw from byte `from` on, as an array.
local function unpack_numbers(raw, from)
  local n = (#raw - from + 1) / 8
  if n == 2 then
    local a, b = sunpack('<dd', raw, from)
    return { a, b }
  end
  if n == 1 then return { (sunpack('<d', raw, from)) } end
  if n == 0 then return {} end
  local out = { sunpack(pack_format(n), raw, from) }
  out[n + 1] = nil -- struct.unpack also returns the next position
  return out
end

local function pack_numbers(state)
  local n = #state
  if n == 2 then return spack('<dd', state[1], state[2]) end
  if n == 1 then return spack('<d', state[1]) end
  if n == 0 then return '' end
  return spack(pack_format(n), unpack(state))
end

local function is_integer(x)
  return x == floor(x) and x > -9007199254740992 and x < 9007199254740992
end

-- A number for the reply: integral values as Lua numbers (Redis sends them as exact integers),
-- anything else (fractions, infinities) as a %.17g string.
local function out_num(x)
  if x == floor(x) and x > -9007199254740992 and x < 9007199254740992 then return x end
  return fmt(x)
end

local STATE_FORMATS = { '%.17g', '%.17g,%.17g' }
local function format_numbers(state)
  local n = #state
  if n == 0 then return '' end
  local f = STATE_FORMATS[n]
  if not f then
    f = string.rep('%.17g,', n - 1) .. '%.17g'
    STATE_FORMATS[n] = f
  end
  return string.format(f, unpack(state))
end

-- Numbers travel packed in comma-separated strings (one argument per rule and per run of requests
-- instead of one per number): the argument count, not the Lua, dominates the cost of a batch on both sides.
-- (A plain find loop: about a third cheaper than string.gmatch, which builds an iterator and a pattern
-- matcher per string.)
local sfind = string.find
local ssub = string.sub
local function numbers(text)
  local out = {}
  local n = 0
  local from = 1
  while true do
    local comma = sfind(text, ',', from, true)
    n = n + 1
    if not comma then
      out[n] = tonumber(ssub(text, from))
      return out
    end
    out[n] = tonumber(ssub(text, from, comma - 1))
    from = comma + 1
  end
end
