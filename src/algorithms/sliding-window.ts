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
    return slidingWait(state, memo.first, used + cost - rule.limit, now, rule);
  },

  remaining(state, now, rule) {
    if (!state || state.length === 0) return rule.limit;
    return Math.max(0, rule.limit - liveUsage(state, now, rule));
  },

  charge(state, now, cost, rule) {
    return slidingWindow.adjust(state, now, cost, rule);
  },

  adjust(state, now, delta, rule, at): RuleState {
    const first = !state ? 0 : memo.hits(state, now, rule) ? memo.first : firstLive(state, now, rule);
    const next: number[] = state ? state.slice(first) : [];
    correctPairs(next, 0, now, delta, rule, at);
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
 * what the passes would: states are immutable.
 */
const memo = {
  state: undefined as RuleState | undefined,
  now: Number.NaN,
  rule: undefined as CompiledRule | undefined,
  first: 0,
  used: 0,
  hits(state: RuleState, now: number, rule: CompiledRule): boolean {
    return state === this.state && now === this.now && rule === this.rule;
  },
};

/** Units counted at `now` (summed oldest first); leaves the index of the first live pair in `memo.first`. */
function liveUsage(state: RuleState, now: number, rule: CompiledRule): number {
  if (memo.hits(state, now, rule)) return memo.used;
  const first = firstLive(state, now, rule);
  const used = sumPairs(state, first);
  memo.state = state;
  memo.now = now;
  memo.rule = rule;
  memo.first = first;
  memo.used = used;
  return used;
}

/** The usage counted in pairs `from`… of a state, added oldest first (the order every reader must use). */
export function sumPairs(pairs: RuleState, from: number): number {
  let used = 0;
  for (let i = from; i < pairs.length; i += 2) used += pairs[i + 1]!;
  return used;
}

/**
 * The wait until `excess` units of the live pairs `first`… have expired (0 when `excess <= 0`): the
 * {@link Algorithm.wait} of a sliding window whose live usage plus the cost exceeds its limit by `excess`.
 */
export function slidingWait(
  pairs: RuleState,
  first: number,
  excess: number,
  now: number,
  rule: CompiledRule,
): number {
  if (excess <= 0) return 0;
  let left = excess;
  for (let i = first; i < pairs.length; i += 2) {
    left -= pairs[i + 1]!;
    if (left <= 0) return msUntil((pairs[i]! + 1) * rule.step + rule.windowMs, now);
  }
  // Unreachable while cost <= limit: all live usage expiring always frees enough.
  return msUntil((pairs[pairs.length - 2]! + 1) * rule.step + rule.windowMs, now);
}

/**
 * The correction of {@link slidingWindow.adjust} on the live pairs `pairs[head…]` (none expired at `now`), in
 * place: the pure algorithm applies it to a copy, the memory store's cell to its own pairs.
 * - At `at` in the past: see {@link adjustAt}.
 * - Now: usage added goes into the current sub-window (a new pair unless the last one is at or after it: a
 *   clock ahead of ours wrote it, which only delays expiry); a refund takes from the newest usage backwards.
 */
export function correctPairs(
  pairs: number[],
  head: number,
  now: number,
  delta: number,
  rule: CompiledRule,
  at: number | undefined,
): void {
  if (at !== undefined && at < now) {
    adjustAt(pairs, head, Math.floor(at / rule.step), delta, now, rule);
    return;
  }
  if (delta >= 0) {
    const bucket = Math.floor(now / rule.step);
    const last = pairs.length - 2;
    if (last >= head && pairs[last]! >= bucket) pairs[last + 1]! += delta;
    else pairs.push(bucket, delta);
    return;
  }
  let refund = -delta;
  for (let i = pairs.length - 2; i >= head && refund > 0; i -= 2) {
    const take = Math.min(refund, pairs[i + 1]!);
    pairs[i + 1]! -= take;
    refund -= take;
    if (pairs[i + 1] === 0) pairs.splice(i, 2);
  }
}

/**
 * A correction attributed to sub-window `bucket` (in the past) of the live pairs `pairs[head…]`, in place.
 * Nothing changes when that sub-window no longer counts. Usage added for it goes into its sub-window (a new
 * pair in order when it has none). A refund takes from that sub-window and the older ones, newest first,
 * then — only if the charge being corrected landed in a newer sub-window (a clock ahead of ours wrote one) —
 * from the newer ones, oldest first: never usage that would count longer than the charge did. Empty pairs
 * are removed after a refund.
 */
function adjustAt(
  pairs: number[],
  head: number,
  bucket: number,
  delta: number,
  now: number,
  rule: CompiledRule,
): void {
  // The charge corrected no longer counts (its sub-window left the window): neither does its correction.
  if ((bucket + 1) * rule.step + rule.windowMs <= now) return;
  if (delta >= 0) {
    let i = pairs.length - 2;
    while (i >= head && pairs[i]! > bucket) i -= 2;
    if (i >= head && pairs[i] === bucket) pairs[i + 1]! += delta;
    else pairs.splice(i + 2, 0, bucket, delta);
    return;
  }
  let refund = -delta;
  let split = head;
  while (split < pairs.length && pairs[split]! <= bucket) split += 2;
  for (let i = split - 2; i >= head && refund > 0; i -= 2) {
    const take = Math.min(refund, pairs[i + 1]!);
    pairs[i + 1]! -= take;
    refund -= take;
  }
  for (let i = split; i < pairs.length && refund > 0; i += 2) {
    const take = Math.min(refund, pairs[i + 1]!);
    pairs[i + 1]! -= take;
    refund -= take;
  }
  let out = head;
  for (let i = head; i < pairs.length; i += 2) {
    if (pairs[i + 1] === 0) continue;
    pairs[out] = pairs[i]!;
    pairs[out + 1] = pairs[i + 1]!;
    out += 2;
  }
  pairs.length = out;
}

/** Index of the first pair still counted at `now`. */
function firstLive(state: RuleState, now: number, rule: CompiledRule): number {
  let i = 0;
  while (i < state.length && (state[i]! + 1) * rule.step + rule.windowMs <= now) i += 2;
  return i;
}
