-- queue-release (v2): returns a claimed job to its place in line, claimable from notBefore.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  job id   ARGV[3] now   ARGV[4] notBefore   ARGV[5] '1' = failed (counts an attempt)
-- ARGV[6]  error    ARGV[7] '1' when an error is given
-- Returns  1 when released, 0 when the job was not leased
local err = false
if ARGV[7] == '1' then err = ARGV[6] end
if release(ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1', err) then return 1 end
return 0
