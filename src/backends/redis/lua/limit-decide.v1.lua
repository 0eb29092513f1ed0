-- limit-decide (v1): decides a batch of requests in order and charges each one that is admitted.
-- One call may carry many requests (coalesced from one process); each sees the charges of those
-- before it, exactly as if they had been sent one by one.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- ARGV[1]      the namespace's key prefix {ns}:l: ; the scripts derive from it, in the same slot,
--              {ns}:l:s:<scope> (hash: rule name -> state) and the logs of sliding windows
--              (see the library header)
-- ARGV[2]      grace ms added to every key's TTL past its idle time
-- ARGV[3]      number of rules R, then R pairs: "id,algorithm 1|2|3,limit,windowMs,capacity,step", name
-- then         number of plan shapes P, then P strings "nScopes,nItems,(scopeIndex,ruleId,cost)*"
--              (scopeIndex: 1-based among the request's scopes)
-- then         number of requests N, then N requests: shape index (1-based), now, the shape's nScopes scopes
-- Returns      6 values per request: allowed (1|0), retryAfterMs, remaining, limit, kind (0 none, 1 item,
--              2 scope), index (0-based); integral values as integers, others as %.17g strings
local grace = tonumber(ARGV[2])
local rules, p = read_rules(3)
local shapes
shapes, p = read_shapes(p, rules)
local n = tonumber(ARGV[p])
p = p + 1
local requests = {}
local min_now = INF
for i = 1, n do
  requests[i], p = read_request(p, shapes)
  if requests[i].now < min_now then min_now = requests[i].now end
end
-- Forget blocks that ended for every request of the batch (bounded memory).
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(min_now))
local out = {}
for i = 1, n do decide(KEYS[1], requests[i], true, out) end
flush(grace)
return out
