import type { Algorithm, RuleState } from './types.js';

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
    if (cost > rule.capacity) return Number.POSITIVE_INFINITY;
    if (cost <= 0) return 0;
    const tat = state ? Math.max(state[0]!, now) : now;
    // Admit when tat + cost·T - now <= burst·T, i.e. the bucket holds `cost` tokens.
    const allowAt = tat + cost * rule.step - rule.capacity * rule.step;
    return allowAt <= now ? 0 : allowAt - now;
  },

  remaining(state, now, rule) {
    const tat = state ? Math.max(state[0]!, now) : now;
    return Math.max(0, Math.floor(rule.capacity - (tat - now) / rule.step + 1e-9));
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
