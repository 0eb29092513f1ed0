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
 */
export const fixedWindow: Algorithm = {
  name: 'fixed-window',

  wait(state, now, cost, rule) {
    if (cost > rule.capacity) return Number.POSITIVE_INFINITY;
    if (cost <= 0) return 0;
    const start = now - (now % rule.windowMs);
    const used = state && state[0] === start ? state[1]! : 0;
    return used + cost <= rule.limit ? 0 : msUntil(start + rule.windowMs, now);
  },

  remaining(state, now, rule) {
    const start = now - (now % rule.windowMs);
    const used = state && state[0] === start ? state[1]! : 0;
    return Math.max(0, rule.limit - used);
  },

  charge(state, now, cost, rule) {
    return fixedWindow.adjust(state, now, cost, rule);
  },

  adjust(state, now, delta, rule): RuleState {
    const start = now - (now % rule.windowMs);
    const used = state && state[0] === start ? state[1]! : 0;
    return [start, Math.max(0, used + delta)];
  },

  idleAt(state, rule) {
    return state[0]! + rule.windowMs;
  },
};
