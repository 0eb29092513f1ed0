-- limit-decide (v2): decides a batch of requests in order and charges each one that is admitted.
-- One call may carry many requests (coalesced from one process); each sees the charges of those
-- before it, exactly as if they had been sent one by one.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- ARGV[1]      the namespace's key prefix {ns}:l: ; the scripts derive from it, in the same slot,
--              {ns}:l:s2:<scope> (hash: rule name -> state) and the logs of sliding windows
--              (see includes/limits/keys.lua)
-- ARGV[2]      grace ms added to every key's TTL past its idle time
-- ARGV[3]      number of rules R, then R pairs: "id,algorithm 1|2|3|4,limit,windowMs,capacity,step", name
-- then         number of plan shapes P, then P strings "nScopes,nItems,(scopeIndex,ruleId,cost)*"
--              (scopeIndex: 1-based among the request's scopes)
-- then         number of runs, then per run "count,shapeIndex,now" (shapeIndex 1-based) followed by
--              count requests, each the shape's nScopes scopes; or an endpoint pool (one request):
--              "0,k,now", then k choices in the order to try, each "shapeIndex,alternative" followed by
--              its shape's scopes
-- Returns      per request, in order: admitted: tightest item (1-based, 0 when none), remaining;
--              refused by an item: -1, retryAfterMs, remaining, item index (0-based);
--              refused by a block: -2, retryAfterMs, limit, scope index (0-based);
--              a pool: the answer of its chosen choice, then that choice's alternative;
--              integral values as integers, others as %.17g strings
-- @include limits/decide
-- @include limits/fast
local grace = tonumber(ARGV[2])
local rules, p = read_rules(3)
local shapes
shapes, p = read_shapes(p, rules)
local runs, min_now, groups = read_runs(p, shapes)
-- Forget blocks that ended, a grace ago, for every request of the batch (bounded memory; the grace absorbs clock skew).
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(min_now - grace))
local out = {}
local fast = groups == 0 and fast_rule(shapes, KEYS[1])
if fast then
  -- One rule, one scope per request, no blocks: the fast path (fixed windows written out).
  local alg = ALGS[fast.alg]
  for r = 1, #runs do
    local run = runs[r]
    local now, base, cost = run.now, run.base, run.shape.items[1].cost
    if fast.alg == 3 then
      for i = 1, run.count do decide_fast_fw(fast, cost, ARGV[base + i], now, out) end
    else
      for i = 1, run.count do decide_fast(fast, alg, cost, ARGV[base + i], now, out) end
    end
  end
  flush_fast(grace, fast, alg)
  return out
end
decide_runs(KEYS[1], runs, true, out)
flush(grace)
return out
