import type { CompiledRule } from '../core/types.js';
import type { Algorithm, RuleState } from './types.js';
import { msUntil } from './until.js';

/**
 * Sub-windows per window. Usage is counted per sub-window of `step = ceil(window / 200)` ms (≥ 1 ms),
 * so the state stays at most ~201 pairs even for 1,000,000 tokens per minute.
 */
export const SLIDING_SUBWINDOWS = 200;

/** Sub-window length for a window: a whole number of ms so that bucket arithmetic is exact. */
export function slidingStep(windowMs: number): number {
  return Math.max(1, Math.ceil(windowMs / SLIDING_SUBWINDOWS));
}

/**
 * Sliding window, conservative sub-window log.
 *
 * Guarantee: in **every** interval of length `window` (not only aligned ones), admitted ≤ `limit`.
 * Usage in sub-window `b` (times `[b·step, (b+1)·step)`) is counted until `(b+1)·step + window`,
 * i.e. as if it happened at the end of its sub-window — never earlier than it did — so no interval
 * can see more than `limit`. The price: a caller that saturates the rule gets `window / (window + step)`
 * of the limit (≥ 99 %, about 99.5 % for windows of a second or more).
 *
 * State: `[b0, used0, b1, used1, …]` with sub-window indexes ascending.
 */
export const slidingWindow: Algorithm = {
  name: 'sliding-window',

  wait(state, now, cost, rule) {
    if (cost > rule.capacity) return Number.POSITIVE_INFINITY;
    if (cost <= 0) return 0;
    if (!state || state.length === 0) return 0;
    const used = liveUsage(state, now, rule);
    const first = memo.first;
    let excess = used + cost - rule.limit;
    if (excess <= 0) return 0;
    for (let i = first; i < state.length; i += 2) {
      excess -= state[i + 1]!;
      if (excess <= 0) return msUntil((state[i]! + 1) * rule.step + rule.windowMs, now);
    }
    // Unreachable while cost <= limit: all live usage expiring always frees enough.
    return msUntil((state[state.length - 2]! + 1) * rule.step + rule.windowMs, now);
  },

  remaining(state, now, rule) {
    if (!state || state.length === 0) return rule.limit;
    return Math.max(0, rule.limit - liveUsage(state, now, rule));
  },

  charge(state, now, cost, rule) {
    return slidingWindow.adjust(state, now, cost, rule);
  },

  chargeInPlace(state, now, cost, rule) {
    const bucket = Math.floor(now / rule.step);
    const known = memo.hits(state, now, rule);
    const first = known ? memo.first : firstLive(state, now, rule);
    // Expired pairs leave from the front: at most once per sub-window for a busy state.
    if (first > 0) state.splice(0, first);
    const last = state.length - 2;
    if (last >= 0 && state[last]! >= bucket) state[last + 1]! += cost;
    else state.push(bucket, cost);
    if (known) {
      // The live pairs are the same, in the same order, from index 0 now: carry the sums over exactly as
      // `liveUsage` would add them (oldest first), so that the next decision at this time reads them.
      if (state.length - 2 !== last) memo.prefix = memo.used;
      memo.first = 0;
      memo.used = memo.prefix + state[state.length - 1]!;
    } else if (memo.state === state) {
      memo.state = undefined;
    }
  },

  adjust(state, now, delta, rule): RuleState {
    const bucket = Math.floor(now / rule.step);
    const first = !state ? 0 : memo.hits(state, now, rule) ? memo.first : firstLive(state, now, rule);
    const next: number[] = state ? state.slice(first) : [];
    if (delta >= 0) {
      const last = next.length - 2;
      // A bucket at or after ours (clock skew between processes): add to it, which only delays expiry.
      if (last >= 0 && next[last]! >= bucket) next[last + 1]! += delta;
      else next.push(bucket, delta);
      return next;
    }
    // Refund from the newest usage backwards.
    let refund = -delta;
    for (let i = next.length - 2; i >= 0 && refund > 0; i -= 2) {
      const take = Math.min(refund, next[i + 1]!);
      next[i + 1]! -= take;
      refund -= take;
      if (next[i + 1] === 0) next.splice(i, 2);
    }
    return next;
  },

  idleAt(state, rule) {
    if (state.length === 0) return Number.NEGATIVE_INFINITY;
    return (state[state.length - 2]! + 1) * rule.step + rule.windowMs;
  },
};

/**
 * The live usage of the last state examined, and where its live pairs start. A decision asks `remaining`,
 * then `wait`, then `charge` of one state at one time: remembering the last sum saves two passes over up to
 * ~201 pairs. It is keyed by the identity of the state and the rule and by the time, so it answers exactly
 * what the passes would: states are immutable, except through `chargeInPlace`, which keeps it up to date.
 */
const memo = {
  state: undefined as RuleState | undefined,
  now: Number.NaN,
  rule: undefined as CompiledRule | undefined,
  first: 0,
  /** The sum of the live pairs before the last one, as `liveUsage` adds them (oldest first). */
  prefix: 0,
  used: 0,
  hits(state: RuleState, now: number, rule: CompiledRule): boolean {
    return state === this.state && now === this.now && rule === this.rule;
  },
};

/** Units counted at `now` (summed oldest first); leaves the index of the first live pair in `memo.first`. */
function liveUsage(state: RuleState, now: number, rule: CompiledRule): number {
  if (memo.hits(state, now, rule)) return memo.used;
  const first = firstLive(state, now, rule);
  let used = 0;
  let prefix = 0;
  for (let i = first; i < state.length; i += 2) {
    prefix = used;
    used += state[i + 1]!;
  }
  memo.state = state;
  memo.now = now;
  memo.rule = rule;
  memo.first = first;
  memo.prefix = prefix;
  memo.used = used;
  return used;
}

/** Index of the first pair still counted at `now`. */
function firstLive(state: RuleState, now: number, rule: CompiledRule): number {
  let i = 0;
  while (i < state.length && (state[i]! + 1) * rule.step + rule.windowMs <= now) i += 2;
  return i;
}
