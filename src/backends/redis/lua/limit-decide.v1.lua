-- limit-decide (v1): decides a batch of requests in order and charges each one that is admitted.
-- One call may carry many requests (coalesced from one process); each sees the charges of those
-- before it, exactly as if they had been sent one by one.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- KEYS[2..n]   {ns}:l:s:<scope>      hash: rule name -> state (comma-joined %.17g numbers)
-- ARGV[1]      grace ms added to every key's TTL past its idle time
-- ARGV[2]      number of requests N
-- ARGV[3..]    N requests, each: now, nScopes, scope*, nItems,
--              (keyIndex, rule, algorithm 1|2|3, limit, windowMs, capacity, step, cost)*
--              (keyIndex: 1-based index into KEYS of the item's scope hash)
-- Returns      one string per request: "allowed,retryAfterMs,remaining,limit,kind,index"
local grace = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local requests = {}
local p = 3
local min_now = INF
for i = 1, n do
  requests[i], p = read_request(p)
  if requests[i].now < min_now then min_now = requests[i].now end
end
-- Forget blocks that ended for every request of the batch (bounded memory).
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(min_now))
local out = {}
for i = 1, n do out[i] = decide(KEYS[1], requests[i], true) end
flush(grace)
return out
