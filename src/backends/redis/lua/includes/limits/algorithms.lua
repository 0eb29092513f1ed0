-- limits/algorithms: the algorithms by their code (1 sliding window, 2 token bucket, 3 fixed window,
-- 4 anchored window),
-- each { wait, remaining, charge, adjust, idle_at } as in src/algorithms/types.ts.
-- @include limits/sliding-window
-- @include limits/token-bucket
-- @include limits/fixed-window
-- @include limits/anchored-window
local ALGS = {
  { wait = sw_wait, remaining = sw_remaining, charge = sw_adjust, adjust = sw_adjust, idle_at = sw_idle_at },
  { wait = tb_wait, remaining = tb_remaining, charge = tb_charge, adjust = tb_adjust, idle_at = tb_idle_at },
  { wait = fw_wait, remaining = fw_remaining, charge = fw_adjust, adjust = fw_adjust, idle_at = fw_idle_at },
  { wait = aw_wait, remaining = aw_remaining, charge = aw_adjust, adjust = aw_adjust, idle_at = aw_idle_at },
}
