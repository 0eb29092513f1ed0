import { InvalidArgumentError } from '../core/errors.js';
import type { LimitRequest } from '../core/types.js';
import { poolPlan } from '../engine/choices.js';
import { normalizeScopes, type Plan } from '../engine/plan.js';
import type { PlanCache } from './plan-cache.js';

/** Pools whose cursor is kept; past this many, the cursors start over (round-robin restarts). */
const MAX_POOLS = 65_536;

/**
 * Endpoint pools of one limiter: turns a request with `alternatives` into a pooled plan and keeps one
 * round-robin cursor per pool, in this process.
 *
 * Order: the primary (alternative 0) first, always; then the others, starting at the pool's cursor, which
 * moves one step per request of the pool. So while the primary has quota every request goes there, and
 * when it has none, consecutive requests start at consecutive overflow alternatives (round-robin), each
 * still taking the next one that has quota. A pool is identified by its alternatives' scopes, in order.
 */
export class Pools {
  readonly #plans: PlanCache;
  readonly #cursors = new Map<string, number>();

  constructor(plans: PlanCache) {
    this.#plans = plans;
  }

  /** The pooled plan of `request` (whose own plan is `base`). */
  plan(base: Plan, request: LimitRequest): Plan {
    const alternatives = request.alternatives;
    if (!Array.isArray(alternatives) || alternatives.length === 0) {
      throw new InvalidArgumentError(
        'alternatives',
        'a non-empty array of { scopes, cost?, costs? }',
        alternatives,
      );
    }
    const plans = alternatives.map((alternative, i) => {
      const field = `alternatives[${i}]`;
      if (alternative === null || typeof alternative !== 'object') {
        throw new InvalidArgumentError(field, 'an object { scopes, cost?, costs? }', alternative);
      }
      normalizeScopes(alternative.scopes, `${field}.scopes`);
      return this.#plans.plan({
        scopes: alternative.scopes,
        cost: alternative.cost ?? request.cost,
        costs: alternative.costs ?? request.costs,
      });
    });
    return poolPlan(base, plans, this.#order(plans));
  }

  /** Primary first, then the others from the pool's cursor on; moves the cursor. */
  #order(plans: readonly Plan[]): number[] {
    const others = plans.length - 1;
    const order = [0];
    if (others === 0) return order;
    const key = plans.map((p) => p.scopes.join('\u0000')).join('\u0001');
    const cursor = this.#cursors.get(key) ?? 0;
    for (let i = 0; i < others; i++) order.push(1 + ((cursor + i) % others));
    if (this.#cursors.size >= MAX_POOLS && !this.#cursors.has(key)) this.#cursors.clear();
    this.#cursors.set(key, (cursor + 1) % others);
    return order;
  }
}

/**
 * The key of a plan's waiting line in `acquire`: its own scopes and, for a pool, every alternative's
 * scopes in alternative order (so that requests of one pool wait in one line whatever their try order).
 */
export function lineKey(plan: Plan): string {
  const own = plan.scopes.join('\u0000');
  if (plan.choices === undefined) return own;
  const byAlternative = [...plan.choices].sort((a, b) => a.alternative - b.alternative);
  return `${own}\u0001${byAlternative.map((c) => c.plan.scopes.join('\u0000')).join('\u0001')}`;
}
