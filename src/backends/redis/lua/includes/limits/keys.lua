-- limits/keys: the keys of a limit namespace, derived from ARGV[1], its key prefix {ns}:l: (all share one
-- hash tag, so one script may touch any of them in a Cluster):
--   {ns}:l:blocks                     sorted set, scope -> blocked until (ms)
--   {ns}:l:s2:<scope>                  hash, rule name -> state (its form tells its algorithm: limits/state)
--   {ns}:l:w2:<#scope>:<scope>:<rule>  list, the sub-window log of a sliding-window rule (packed b,u items)
-- The layout version is in the names (v2: packed doubles), so v1 scripts never read v2 states.
local STATE_KEY = ARGV[1] .. 's2:'
local LOG_KEY = ARGV[1] .. 'w2:'

local LENGTHS = {} -- n -> tostring(n): printing a number costs more than looking it up
local function log_key(scope, rule)
  local n = #scope
  local len = LENGTHS[n]
  if not len then
    len = tostring(n)
    LENGTHS[n] = len
  end
  return LOG_KEY .. len .. ':' .. scope .. ':' .. rule
end
