import type { CompiledRule } from '../core/types.js';
import type { Algorithm, RuleState } from './types.js';
import { msUntil } from './until.js';

/**
 * Token bucket as GCRA (generic cell rate algorithm): capacity `burst` (default `limit`), refilled
 * continuously at `limit / window`. One number of state: the theoretical arrival time (TAT), the moment
 * the bucket would be full again.
 *
 * Guarantee: in every interval of length `t`, admitted ≤ `burst + limit · t / window`.
 *
 * State: `[tat]`.
 */
export const tokenBucket: Algorithm = {
  name: 'token-bucket',

  wait(state, now, cost, rule) {
    return bucketWait(state ? state[0]! : now, now, cost, rule);
  },

  remaining(state, now, rule) {
    return bucketRemaining(state ? state[0]! : now, now, rule);
  },

  charge(state, now, cost, rule): RuleState {
    const tat = state ? Math.max(state[0]!, now) : now;
    return [tat + cost * rule.step];
  },

  adjust(state, now, delta, rule): RuleState {
    const tat = state ? Math.max(state[0]!, now) : now;
    return [Math.max(now, tat + delta * rule.step)];
  },

  idleAt(state) {
    return state[0]!;
  },
};

/** {@link Algorithm.wait} of a bucket whose stored TAT is `stored` (the memory store keeps it in a field). */
export function bucketWait(stored: number, now: number, cost: number, rule: CompiledRule): number {
  if (cost > rule.capacity) return Number.POSITIVE_INFINITY;
  if (cost <= 0) return 0;
  const tat = Math.max(stored, now);
  // Admit when tat + cost·T - now <= burst·T, i.e. the bucket holds `cost` tokens. Written as
  // tat - (burst - cost)·T so that a full bucket (tat = now) admits exactly, without rounding error.
  const allowAt = tat - (rule.capacity - cost) * rule.step;
  return allowAt <= now ? 0 : msUntil(allowAt, now);
}

/** {@link Algorithm.remaining} of a bucket whose stored TAT is `stored`. */
export function bucketRemaining(stored: number, now: number, rule: CompiledRule): number {
  const tat = Math.max(stored, now);
  // Whole units that fit now: estimated, then corrected to agree exactly with `wait` (which rounds
  // differently, notably at epoch-sized times where doubles keep only ~0.2 µs).
  let units = Math.max(0, Math.floor(rule.capacity - (tat - now) / rule.step));
  if (units + 1 <= rule.capacity && fits(tat, now, units + 1, rule)) units++;
  while (units > 0 && !fits(tat, now, units, rule)) units--;
  return units;
}

/** Whether `units` fit now, computed exactly as `wait` does (a plain function: no closure per call). */
function fits(tat: number, now: number, units: number, rule: CompiledRule): boolean {
  return tat - (rule.capacity - units) * rule.step <= now;
}
