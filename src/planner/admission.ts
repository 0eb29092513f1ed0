import { algorithms } from '../algorithms/index.js';
import type { Algorithm, RuleState } from '../algorithms/types.js';
import type { CompiledRule } from '../core/types.js';

/**
 * How many calls an endpoint admits with as many workers as wanted: the calls that can **start** in
 * `[0, latestStartMs]` of a run that starts at `origin` (ms since the Unix epoch) with the endpoint's
 * state empty, every call made as early as the rule admits it. This is what the endpoint contributes to its
 * type's rate capacity; workers can only lower it.
 *
 * The arithmetic follows the rule as ratekeeper's limiter enforces it (`src/algorithms/`), so that a run
 * admitted through that limiter gets exactly these counts:
 *
 * - **sliding-window**: `limit` calls at 0. ratekeeper counts a call until the end of its sub-window
 *   (`step = ceil(window / 200)` ms, aligned to Unix time) plus `window`, so the next `limit` start at
 *   `s₁ = (floor(origin / step) + 1)·step + window − origin`, and from then on every
 *   `P = (floor(window / step) + 1)·step` (= `window + step` when step divides window):
 *   `count = limit · (1 + [s₁ ≤ L] · (floor((L − s₁) / P) + 1))` with `L = latestStartMs`.
 *   The receiver's ideal sliding window (a call counts for exactly `window`) would admit
 *   `limit · (floor(L / window) + 1)`: at most `limit` more per window, never fewer.
 *   Example: 30 per minute, 3 minutes, 2 s jobs: L = 178 s, step 300 ms, s₁ = 60.3 s, P = 60.3 s:
 *   30 · (1 + floor(117.7 / 60.3) + 1) = 90.
 * - **fixed-window** (aligned to Unix time): `limit` per aligned window the interval touches:
 *   `count = limit · (floor((origin + L) / window) − floor(origin / window) + 1)`. This depends on where the
 *   start falls in its window: with `origin = 0` (no start given) it is the least over all starts,
 *   `limit · (floor(L / window) + 1)`; another start admits up to `limit` more.
 * - **token-bucket** (GCRA): the full bucket at 0, then one call every `window / limit`:
 *   `count = burst + floor(L · limit / window)`.
 *
 * A negative `latestStartMs` (the job is longer than the deadline) admits nothing.
 */
export function admissions(rule: CompiledRule, latestStartMs: number, origin = 0): number {
  if (latestStartMs < 0) return 0;
  const L = latestStartMs;
  switch (rule.algorithm) {
    case 'sliding-window': {
      const step = rule.step;
      const first = (Math.floor(origin / step) + 1) * step + rule.windowMs - origin;
      if (first > L) return rule.limit;
      const period = (Math.floor(rule.windowMs / step) + 1) * step;
      return rule.limit * (2 + Math.floor((L - first) / period));
    }
    case 'fixed-window':
      return rule.limit * (Math.floor((origin + L) / rule.windowMs) - Math.floor(origin / rule.windowMs) + 1);
    case 'token-bucket':
      return rule.capacity + Math.floor((L * rule.limit) / rule.windowMs);
    case 'anchored-window':
      // A window opens at the first call (0 at the latest) and the next at the first call after it ended.
      return rule.limit * (Math.floor(L / rule.windowMs) + 1);
  }
}

/**
 * One endpoint's limiter state during a simulated run: the same pure algorithm ratekeeper's limiter runs,
 * charged one call at a time exactly as a run's `tryAcquire` calls would charge it.
 */
export class EndpointGate {
  readonly #algorithm: Algorithm;
  readonly #rule: CompiledRule;
  #state: RuleState | undefined;

  constructor(rule: CompiledRule) {
    this.#rule = rule;
    this.#algorithm = algorithms[rule.algorithm];
  }

  /** Starts as many calls as admitted at `now` (absolute ms), up to `wanted`; returns how many started. */
  admit(now: number, wanted: number): number {
    let started = 0;
    while (started < wanted && this.#algorithm.wait(this.#state, now, 1, this.#rule) === 0) {
      this.#state = this.#algorithm.charge(this.#state, now, 1, this.#rule);
      started++;
    }
    return started;
  }

  /** The absolute time at which the next call is admitted, seen from `now`. */
  nextAt(now: number): number {
    return now + this.#algorithm.wait(this.#state, now, 1, this.#rule);
  }
}
