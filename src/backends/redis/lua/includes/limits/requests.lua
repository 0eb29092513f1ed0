-- limits/requests: the rules, plan shapes and runs of requests of limit-decide and limit-peek (see the
-- ARGV layout in limit-decide.v2.lua).
-- @include limits/numbers
-- Rules from ARGV at position p: count R, then R pairs ("id,algorithm,limit,windowMs,capacity,step", name).
-- Returns rules by id and the position after them.
local function read_rules(p)
  local rules = {}
  local r = tonumber(ARGV[p])
  p = p + 1
  for _ = 1, r do
    local v = numbers(ARGV[p])
    rules[v[1]] = { alg = v[2], limit = v[3], window = v[4], capacity = v[5], step = v[6], name = ARGV[p + 1] }
    p = p + 2
  end
  return rules, p
end

-- Plan shapes from ARGV at position p: count P, then P strings "nScopes,nItems,(scopeIndex,ruleId,cost)*".
-- Requests of one shape (same rules, same costs; typically all requests of a batch) share its parse.
local function read_shapes(p, rules)
  local shapes = {}
  local count = tonumber(ARGV[p])
  p = p + 1
  for s = 1, count do
    local v = numbers(ARGV[p])
    local items = {}
    local groups = {} -- scope index -> the items on that scope (read together: limits/cache slot_of)
    local at = 3
    for i = 1, v[2] do
      local rule = rules[v[at + 1]]
      local si = v[at]
      local group = groups[si]
      if not group then
        group = {}
        groups[si] = group
      end
      local item = { si = si, field = rule.name, rule = rule, alg = ALGS[rule.alg], cost = v[at + 2], group = group }
      group[#group + 1] = item
      items[i] = item
      at = at + 3
    end
    -- A scope with several distinct rules is read with one HMGET of their names.
    for _, group in pairs(groups) do
      if #group > 1 then
        local names, seen = {}, {}
        for j = 1, #group do
          local field = group[j].field
          if seen[field] then
            names = nil
            break
          end
          seen[field] = true
          names[j] = field
        end
        group.names = names
      end
    end
    shapes[s] = { n_scopes = v[1], items = items }
    p = p + 1
  end
  return shapes, p
end

-- Runs of requests from ARGV at position p: count of runs, then per run "count,shapeIndex,now" followed by
-- its requests, each the shape's nScopes scopes (a run's requests share shape and time).
-- Returns the runs ({ shape, now, count, base }: a request's scopes are ARGV[base + 1 .. base + nScopes],
-- base growing by nScopes per request; or { group, now } for an endpoint pool, one request whose choices are
-- { shape, alt, base }), the earliest time among them and the number of pools.
local function read_runs(p, shapes)
  local runs = {}
  local min_now = INF
  local count = tonumber(ARGV[p])
  p = p + 1
  local groups = 0
  for r = 1, count do
    local v = numbers(ARGV[p])
    if v[3] < min_now then min_now = v[3] end
    if v[1] == 0 then
      -- An endpoint pool: "0,k,now", then per choice "shapeIndex,alternative" and its shape's scopes.
      local group = {}
      p = p + 1
      for j = 1, v[2] do
        local e = numbers(ARGV[p])
        local shape = shapes[e[1]]
        group[j] = { shape = shape, alt = e[2], base = p }
        p = p + 1 + shape.n_scopes
      end
      runs[r] = { group = group, now = v[3] }
      groups = groups + 1
    else
      local shape = shapes[v[2]]
      runs[r] = { shape = shape, now = v[3], count = v[1], base = p }
      p = p + 1 + v[1] * shape.n_scopes
    end
  end
  return runs, min_now, groups
end
