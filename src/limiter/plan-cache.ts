import type { CompiledRule, LimitRequest } from '../core/types.js';
import { buildPlan, normalizeScopes, type Plan, type PlanItem, stateKey } from '../engine/plan.js';
import type { ScopeRules } from '../engine/rules.js';

/**
 * Plans of requests, made per pattern rather than cached per scope key. What every key of a pattern shares
 * (its rules) is resolved by the rules without a per-key cache, and a plan is then its scope list plus one
 * small item per charged rule: nothing is kept per key, so there is no cache to outgrow and no edge past
 * which every decision gets slower (a million distinct chats cost what ten do, apart from the store's own
 * lookups).
 *
 * Two things are kept, both bounded by what the rules name rather than by the keys seen: the items of each
 * scope named by an exact pattern (`global`: built once, shared by every plan through it, so the memory
 * store finds its states through the items without a lookup), and the last single-scope plan (a scope asked
 * for again and again reuses it). Both follow `rules.version`.
 */
export class PlanCache {
  readonly #rules: ScopeRules;
  #rulesVersion = -1;
  /** Default-cost items of each scope named by an exact pattern. */
  #exact = new Map<string, readonly PlanItem[]>();
  /** The last single-scope default-cost plan made. */
  #last: Plan | undefined;

  constructor(rules: ScopeRules) {
    this.#rules = rules;
  }

  /**
   * Resolves a request to its plan. A default-cost request on valid scopes takes the short path (its items
   * made from the rules, exact scopes' items shared); anything else is built and validated in full.
   */
  plan(request: LimitRequest): Plan {
    if (
      request !== null &&
      typeof request === 'object' &&
      request.cost === undefined &&
      request.costs === undefined
    ) {
      const scopes = request.scopes;
      if (typeof scopes === 'string') {
        if (scopes.length > 0) return this.#single(scopes);
      } else if (Array.isArray(scopes) && scopes.length > 0) {
        const plan = scopes.length === 1 ? this.#singleOf(scopes[0]) : this.#list(scopes);
        if (plan !== undefined) return plan;
      }
    }
    return buildPlan(request, this.#rules);
  }

  /** Starts over when the rules changed since the exact scopes' items were made. */
  #checkRules(): void {
    if (this.#rulesVersion === this.#rules.version) return;
    this.#rulesVersion = this.#rules.version;
    this.#last = undefined;
    this.#exact = new Map();
    for (const [scope, rules] of this.#rules.exactPatterns()) {
      this.#exact.set(scope, defaultItems(scope, rules));
    }
  }

  #singleOf(scope: unknown): Plan | undefined {
    return typeof scope === 'string' && scope.length > 0 ? this.#single(scope) : undefined;
  }

  #single(scope: string): Plan {
    this.#checkRules();
    const last = this.#last;
    if (last !== undefined && last.scopes[0] === scope) return last;
    const plan: Plan = { scopes: [scope], items: this.#itemsOf(scope) };
    this.#last = plan;
    return plan;
  }

  /** The plan of two or more scopes; `undefined` when the list holds anything but non-empty strings. */
  #list(scopes: readonly unknown[]): Plan | undefined {
    for (let i = 0; i < scopes.length; i++) {
      const scope = scopes[i];
      if (typeof scope !== 'string' || scope.length === 0) return undefined;
    }
    this.#checkRules();
    // A private copy: the caller may change its array while the plan waits (a line, a group commit).
    const list = normalizeScopes((scopes as readonly string[]).slice());
    const items: PlanItem[] = [];
    for (let i = 0; i < list.length; i++) {
      const own = this.#itemsOf(list[i]!);
      for (let j = 0; j < own.length; j++) items.push(own[j]!);
    }
    return { scopes: list, items };
  }

  /** The default-cost items of one scope: shared for an exact pattern's scope, else made now. */
  #itemsOf(scope: string): readonly PlanItem[] {
    return this.#exact.get(scope) ?? defaultItems(scope, this.#rules.resolvePrefix(scope));
  }
}

/** The items a request of the default cost (one request) charges on `scope`: its rules counting requests. */
function defaultItems(scope: string, rules: readonly CompiledRule[]): PlanItem[] {
  const items: PlanItem[] = [];
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.unit === 'requests')
      items.push({ scope, key: stateKey(scope, rule.name), rule, cost: 1, slot: undefined });
  }
  return items;
}
