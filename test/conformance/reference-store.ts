import { algorithms } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import type { LimitStore } from '../../src/backends/types.js';
import type { Decision, RuleStats } from '../../src/core/types.js';
import { chargeAll, describeStates, evaluate } from '../../src/engine/evaluate.js';
import type { Plan, PlanItem } from '../../src/engine/plan.js';

/**
 * The pure algorithms as a limit store, as plainly as possible: a map of states, each decision `evaluate`
 * then `chargeAll`. The differential test holds every real store (memory cells, SQLite, Redis Lua) to the
 * answers of this one.
 */
export class ReferenceLimitStore implements LimitStore {
  readonly sync = true;
  readonly #states = new Map<string, RuleState>();
  readonly #blocks = new Map<string, number>();

  decide(plan: Plan, now: number): Decision {
    return this.#decide(plan, now, true);
  }

  decideMany(plans: readonly Plan[], now: number): Decision[] {
    return plans.map((plan) => this.#decide(plan, now, true));
  }

  peek(plan: Plan, now: number): Decision {
    return this.#decide(plan, now, false);
  }

  #decide(plan: Plan, now: number, charge: boolean): Decision {
    if (plan.choices !== undefined) {
      // An endpoint pool, plainly: each choice in order; the first admitted wins, else the shortest wait.
      let best: Decision | undefined;
      for (const choice of plan.choices) {
        const decision = { ...this.#decide(choice.plan, now, charge), alternative: choice.alternative };
        if (decision.allowed) return decision;
        if (!best || decision.retryAfterMs < best.retryAfterMs) best = decision;
      }
      return best!;
    }
    const states = plan.items.map((item) => this.#states.get(item.key));
    const blocks = plan.scopes.map((scope) => this.#blocks.get(scope) ?? 0);
    const decision = evaluate(plan, states, blocks, now);
    if (charge && decision.allowed) {
      const charged = chargeAll(plan, states, now);
      for (let i = 0; i < charged.length; i++) this.#states.set(plan.items[i]!.key, charged[i]!);
    }
    return decision;
  }

  adjust(items: readonly PlanItem[], now: number): void {
    for (const item of items) {
      const state = this.#states.get(item.key);
      this.#states.set(
        item.key,
        algorithms[item.rule.algorithm].adjust(state, now, item.cost, item.rule, item.at),
      );
    }
  }

  block(scopes: readonly string[], until: number): void {
    for (const scope of scopes) {
      if ((this.#blocks.get(scope) ?? 0) < until) this.#blocks.set(scope, until);
    }
  }

  inspect(plan: Plan, now: number): RuleStats[] {
    const states = plan.items.map((item) => this.#states.get(item.key));
    return describeStates(plan, states, this.#blocks, now);
  }

  reset(scope?: string): void {
    if (scope === undefined) {
      this.#states.clear();
      this.#blocks.clear();
      return;
    }
    this.#blocks.delete(scope);
    for (const key of [...this.#states.keys()]) {
      // Keys are `${scope}|${rule}`; rule names never contain '|', so the scope is all before the last one.
      if (key.slice(0, key.lastIndexOf('|')) === scope) this.#states.delete(key);
    }
  }
}
