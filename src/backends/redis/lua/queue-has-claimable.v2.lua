-- queue-has-claimable (v2): whether a job of this priority or a more urgent one could be claimed now.
-- KEYS, ARGV[1]: see the queue library header.
-- ARGV[2]  priority   ARGV[3] now
-- Returns  1 or 0
local rank = RANK[ARGV[2]]
local now = tonumber(ARGV[3])
for _, priority in ipairs(PRIORITIES) do
  if RANK[priority] > rank then break end
  local start = 0
  while true do
    local ids = redis.call('ZRANGE', K_LINE[priority], start, start + 99)
    if #ids == 0 then break end
    for _, id in ipairs(ids) do
      local job = get_job(id)
      if job and claimable(job, now) then return 1 end
    end
    start = start + 100
  end
end
return 0
