import type { CompiledRule } from '../core/types.js';
import type { Algorithm, RuleState } from './types.js';
import { msUntil } from './until.js';

/**
 * Anchored window: a window of `window` ms that starts at its first charge after the previous one ended —
 * go-ratelimit's day (`day_start`, `day_count`: reset once 24 h have passed since `day_start`).
 *
 * Guarantee: in every window `[start, start + window)`, where `start` is the first charge after the previous
 * window ended, admitted ≤ `limit`. (Like a fixed window, up to 2·limit can pass within one window's length
 * across a boundary; unlike it, the boundary is where the usage began, not Unix-time aligned.)
 *
 * State: `[windowStart, used]`, as a fixed window's.
 *
 * Clock skew: the stored window is current while `now < start + window`, which includes a `now` before its
 * start (a clock lagging the one that opened it): a lagging process is refused or charged in the window it
 * finds and never opens an older one over it.
 */
export const anchoredWindow: Algorithm = {
  name: 'anchored-window',

  wait(state, now, cost, rule) {
    return state
      ? anchoredWait(state[0]!, state[1]!, now, cost, rule)
      : anchoredWait(Number.NaN, 0, now, cost, rule);
  },

  remaining(state, now, rule) {
    if (!state || !isCurrent(state[0]!, now, rule.windowMs)) return rule.limit;
    return Math.max(0, rule.limit - state[1]!);
  },

  charge(state, now, cost, rule) {
    return anchoredWindow.adjust(state, now, cost, rule);
  },

  adjust(state, now, delta, rule, at): RuleState {
    if (state && isCurrent(state[0]!, now, rule.windowMs)) {
      // A correction of a window that has ended changes nothing that still counts.
      if (at !== undefined && at < state[0]!) return [state[0]!, state[1]!];
      return [state[0]!, Math.max(0, state[1]! + delta)];
    }
    // No window now: a charge opens one (also of 0: a window opened at `now` with nothing used yet, as an
    // imported go-ratelimit `day_start` with `day_count: 0`); a refund, or a correction of the past, has
    // nothing to correct (an ended window, idle from now).
    if (delta < 0 || (at !== undefined && at < now)) return [now - rule.windowMs, 0];
    return [now, delta];
  },

  idleAt(state, rule) {
    return state[0]! + rule.windowMs;
  },
};

/** Whether the window opened at `start` (NaN: none) still counts at `now`. */
export function isCurrent(start: number, now: number, windowMs: number): boolean {
  return now < start + windowMs;
}

/** {@link Algorithm.wait} of the state `[start, used]` (the memory store keeps the two in fields). */
export function anchoredWait(
  start: number,
  used: number,
  now: number,
  cost: number,
  rule: CompiledRule,
): number {
  if (cost > rule.capacity) return Number.POSITIVE_INFINITY;
  if (cost <= 0) return 0;
  if (!isCurrent(start, now, rule.windowMs)) return 0;
  return used + cost <= rule.limit ? 0 : msUntil(start + rule.windowMs, now);
}
