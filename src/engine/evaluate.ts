import { algorithms } from '../algorithms/index.js';
import type { RuleState } from '../algorithms/types.js';
import type { Decision, RuleStats } from '../core/types.js';
import type { Plan } from './plan.js';

/** Per-item answers of the decision in progress (decisions are synchronous and never re-entered). */
const scratch = { remaining: [] as number[], waits: [] as number[] };

/**
 * Decides a plan against loaded states, without I/O: shared by every backend that runs the algorithms in
 * JavaScript (memory, SQLite). `blockedUntil[i]` is the block end of `plan.scopes[i]` (0 when none).
 * The request is allowed only if no scope is blocked and every item fits; `retryAfterMs` is then the
 * largest wait, which is exact: a rule never gets tighter as time passes without new charges.
 */
export function evaluate(
  plan: Plan,
  states: ReadonlyArray<RuleState | undefined>,
  blockedUntil: readonly number[],
  now: number,
): Decision {
  const { remaining, waits } = scratch;
  const items = plan.items;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const algorithm = algorithms[item.rule.algorithm];
    remaining[i] = algorithm.remaining(states[i], now, item.rule);
    waits[i] = algorithm.wait(states[i], now, item.cost, item.rule);
  }
  return decisionOf(plan, remaining, waits, blockedUntil, now);
}

/**
 * The decision on a plan from each item's `remaining` and `wait` (as its algorithm answers them now) and
 * the block ends of its scopes: allowed when nothing waits, else refused by the longest wait.
 */
export function decisionOf(
  plan: Plan,
  remaining: readonly number[],
  waits: readonly number[],
  blockedUntil: readonly number[],
  now: number,
): Decision {
  let wait = 0;
  let blockedScope = -1;
  for (let i = 0; i < blockedUntil.length; i++) {
    const left = blockedUntil[i]! - now;
    if (left > wait) {
      wait = left;
      blockedScope = i;
    }
  }
  const items = plan.items;
  let blockedItem = -1;
  // When allowed, report the rule with the smallest share left after this charge.
  let tightShare = Number.POSITIVE_INFINITY;
  let tightRemaining = Number.POSITIVE_INFINITY;
  let tightLimit = Number.POSITIVE_INFINITY;
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    const w = waits[i]!;
    if (w > wait) {
      wait = w;
      blockedItem = i;
      blockedScope = -1;
    }
    const after = remaining[i]! - item.cost;
    const share = item.rule.limit > 0 ? after / item.rule.limit : 0;
    if (share < tightShare) {
      tightShare = share;
      tightRemaining = Math.max(0, after);
      tightLimit = item.rule.limit;
    }
  }
  if (wait <= 0) return allowed(tightRemaining, tightLimit);
  if (blockedItem >= 0) {
    const item = items[blockedItem]!;
    return {
      allowed: false,
      retryAfterMs: wait,
      remaining: remaining[blockedItem]!,
      limit: item.rule.limit,
      blockedBy: { scope: item.scope, rule: item.rule.name, unit: item.rule.unit },
    };
  }
  return {
    allowed: false,
    retryAfterMs: wait,
    remaining: 0,
    limit: Number.isFinite(tightLimit) ? tightLimit : 0,
    blockedBy: { scope: plan.scopes[blockedScope]!, rule: 'block', unit: 'requests' },
  };
}

/** An admission: `remaining` units left after it in the tightest rule, whose limit is `limit`. */
export function allowed(remaining: number, limit: number): Decision {
  return { allowed: true, retryAfterMs: 0, remaining, limit, blockedBy: null };
}

/** The states after charging every item of an allowed plan. */
export function chargeAll(
  plan: Plan,
  states: ReadonlyArray<RuleState | undefined>,
  now: number,
): RuleState[] {
  const out: RuleState[] = new Array(plan.items.length);
  for (let i = 0; i < plan.items.length; i++) {
    const item = plan.items[i]!;
    out[i] = algorithms[item.rule.algorithm].charge(states[i], now, item.cost, item.rule);
  }
  return out;
}

/** Usage of each item's rule. */
export function describeStates(
  plan: Plan,
  states: ReadonlyArray<RuleState | undefined>,
  blockedUntil: ReadonlyMap<string, number>,
  now: number,
): RuleStats[] {
  return plan.items.map((item, i) => {
    const algorithm = algorithms[item.rule.algorithm];
    const state = states[i];
    const remaining = algorithm.remaining(state, now, item.rule);
    const idle = state ? algorithm.idleAt(state, item.rule) : now;
    const until = blockedUntil.get(item.scope) ?? 0;
    return {
      scope: item.scope,
      rule: item.rule.name,
      unit: item.rule.unit,
      algorithm: item.rule.algorithm,
      limit: item.rule.limit,
      windowMs: item.rule.windowMs,
      used: Math.max(0, item.rule.limit - remaining),
      remaining,
      resetMs: Math.max(0, idle - now),
      blockedMs: Math.max(0, until - now),
    };
  });
}
