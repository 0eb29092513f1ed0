import type { CompiledRule } from '../core/types.js';
import type { Algorithm, RuleState } from './types.js';
import { msUntil } from './until.js';

/**
 * Fixed window aligned to Unix time, like an RLN epoch: the window containing `now` is
 * `[floor(now / window) · window, … + window)`.
 *
 * Guarantee: in every aligned window, admitted ≤ `limit`. (Across a boundary up to 2·limit can pass
 * within one window's length; use `sliding-window` when that matters.)
 *
 * State: `[windowStart, used]`.
 *
 * Clock skew: the window a decision falls in is the newer of the stored window and the one containing `now`
 * ({@link currentWindow}), so a process whose clock lags never moves a window backwards: it is refused or
 * charged in the newer window it finds, and its wait runs on its own clock to that window's end.
 */
export const fixedWindow: Algorithm = {
  name: 'fixed-window',

  wait(state, now, cost, rule) {
    return state
      ? fixedWait(state[0]!, state[1]!, now, cost, rule)
      : fixedWait(Number.NaN, 0, now, cost, rule);
  },

  remaining(state, now, rule) {
    if (!state) return rule.limit;
    const start = currentWindow(state[0]!, now, rule.windowMs);
    const used = state[0] === start ? state[1]! : 0;
    return Math.max(0, rule.limit - used);
  },

  charge(state, now, cost, rule) {
    return fixedWindow.adjust(state, now, cost, rule);
  },

  adjust(state, now, delta, rule, at): RuleState {
    const start = state ? currentWindow(state[0]!, now, rule.windowMs) : windowStart(now, rule.windowMs);
    const used = state && state[0] === start ? state[1]! : 0;
    // A correction of a window that has ended changes nothing that still counts.
    if (at !== undefined && at < now && windowStart(at, rule.windowMs) < start) return [start, used];
    return [start, Math.max(0, used + delta)];
  },

  idleAt(state, rule) {
    return state[0]! + rule.windowMs;
  },
};

/** {@link Algorithm.wait} of the state `[start, used]` (the memory store keeps the two in fields). */
export function fixedWait(
  start: number,
  used: number,
  now: number,
  cost: number,
  rule: CompiledRule,
): number {
  if (cost > rule.capacity) return Number.POSITIVE_INFINITY;
  if (cost <= 0) return 0;
  const current = currentWindow(start, now, rule.windowMs);
  const usedNow = start === current ? used : 0;
  return usedNow + cost <= rule.limit ? 0 : msUntil(current + rule.windowMs, now);
}

/**
 * The window a decision at `now` falls in, given the stored window `start` (NaN when none): the aligned window
 * containing `now`, or the stored one when that is newer (`now` from a clock that lags the one that wrote it).
 */
export function currentWindow(start: number, now: number, windowMs: number): number {
  const aligned = windowStart(now, windowMs);
  // Not Math.max: a NaN start (no window yet) must give the aligned window, not NaN.
  // biome-ignore lint/complexity/useMathMinMax: NaN handling (see above)
  return start > aligned ? start : aligned;
}

/**
 * Start of the aligned window containing `now`: exactly `now - (now % windowMs)`. The floating-point
 * remainder is slow (an x87 loop in V8), so for non-negative safe integers, which is what clocks give,
 * the start is computed by division and checked; anything else takes the remainder.
 */
export function windowStart(now: number, windowMs: number): number {
  // For safe integers the floored quotient is the true one or one more, the product is exact below 2^53,
  // and the check rejects the "one more" case: what passes is the exact start.
  const start = Math.floor(now / windowMs) * windowMs;
  if (
    start <= now &&
    now - start < windowMs &&
    now >= 0 &&
    Number.isSafeInteger(now) &&
    Number.isSafeInteger(windowMs)
  ) {
    return start;
  }
  return now - (now % windowMs);
}
