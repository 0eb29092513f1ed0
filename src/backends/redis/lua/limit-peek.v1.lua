-- limit-peek (v1): what limit-decide would answer, without charging or writing anything.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- KEYS[2..n]   {ns}:l:s:<scope>      hash: rule name -> state
-- ARGV[1]      unused (grace, kept so peek and decide share one argument layout)
-- ARGV[2]      number of requests N
-- ARGV[3..]    N requests, laid out as in limit-decide
-- Returns      one string per request: "allowed,retryAfterMs,remaining,limit,kind,index"
local n = tonumber(ARGV[2])
local p = 3
local out = {}
for i = 1, n do
  local req
  req, p = read_request(p)
  out[i] = decide(KEYS[1], req, false)
end
return out
