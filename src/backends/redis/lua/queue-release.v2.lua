-- queue-release (v2): returns a leased job to its place in line, claimable from notBefore.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  job id   ARGV[3] lease owner   ARGV[4] now   ARGV[5] notBefore
-- ARGV[6]  '1' = failed (counts an attempt)   ARGV[7] error   ARGV[8] '1' when an error is given
-- ARGV[9]  '0' = a failure that counts no attempt (a receiver's retry-after answer)
-- Returns  1 when released, 0 when the lease is not the job's (nothing changed; counted stale)
local job = held(ARGV[2], ARGV[3])
if not job then return 0 end
local err = false
if ARGV[8] == '1' then err = ARGV[7] end
release(job, tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1', err, ARGV[9] == '0')
return 1
