-- queue-dead-letters (v2): dead letters matching a filter, oldest failure first.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2..7] filter (see read_filter)   ARGV[8] most jobs to return
-- Returns  the jobs (see job_reply; the last field is failedAt)
local out = {}
for _, job in ipairs(matching_dead(read_filter(2), tonumber(ARGV[8]))) do out[#out + 1] = job_reply(job) end
return out
