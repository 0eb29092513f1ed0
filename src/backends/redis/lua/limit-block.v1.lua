-- limit-block (v1): blocks scopes until a time; a block only ever extends an existing one.
--
-- KEYS[1]      {ns}:l:blocks         sorted set: scope -> blocked until (ms)
-- ARGV[1]      until (ms since epoch, in the caller's clock)
-- ARGV[2..]    scopes
-- Returns      the number of scopes
-- Ended blocks are removed by limit-decide, which knows the current time.
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'GT', ARGV[1], ARGV[i])
end
return #ARGV - 1
