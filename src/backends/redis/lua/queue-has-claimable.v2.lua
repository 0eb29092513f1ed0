-- queue-has-claimable (v2): whether a job of this priority or a more urgent one could be claimed now.
-- Bounded: it reads at most MAX_READS jobs (three fields each) in line order; when it has read that many
-- without finding a claimable one (a long run of leased, retrying or lane-held jobs), it answers 1: it
-- cannot tell, and a false 1 only queues an offer behind the line instead of sending it at once.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  priority   ARGV[3] now
-- Returns  1 or 0
local MAX_READS = 200
local PAGE = 50
local rank = RANK[ARGV[2]]
local now = tonumber(ARGV[3])
local reads = 0
for _, priority in ipairs(PRIORITIES) do
  if RANK[priority] > rank then break end
  local start = 0
  while true do
    local ids = redis.call('ZRANGE', K_LINE[priority], start, start + PAGE - 1)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      if reads >= MAX_READS then return 1 end
      reads = reads + 1
      local v = redis.call('HMGET', JOB .. id, 'st', 'nb', 'l')
      if v[1] and claimable_fields(v[1], v[2], v[3], now) then return 1 end
    end
    start = start + PAGE
  end
end
return 0
