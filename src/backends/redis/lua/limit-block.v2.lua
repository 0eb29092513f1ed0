-- limit-block (v2): blocks scopes until a time; a block only ever extends an existing one.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- ARGV[1]      the namespace's key prefix {ns}:l: (unused here; every limit script takes it first)
-- ARGV[2]      until (ms since epoch, in the caller's clock)
-- ARGV[3..]    scopes
-- Returns      the number of scopes
-- Ended blocks are removed by limit-decide, which knows the current time.
for i = 3, #ARGV do
  redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[i])
end
return #ARGV - 2
