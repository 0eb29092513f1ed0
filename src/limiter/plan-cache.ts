import type { CompiledRule, LimitRequest } from '../core/types.js';
import { applyCost, buildPlan, normalizeScopes, type Plan, type PlanItem, stateKey } from '../engine/plan.js';
import type { ScopeRules } from '../engine/rules.js';

/**
 * Plans of requests, made per pattern rather than built per scope key. What every key of a pattern shares
 * (its rules) is resolved by the rules without a per-key cache, and a plan is then its scope list plus one
 * small item per charged rule, so a plan made afresh is cheap: there is no edge past which every decision
 * gets slower (a million distinct chats cost what ten do, apart from the store's own lookups).
 *
 * What is kept: the items of each scope named by an exact pattern (`global`: built once, shared by every plan
 * through it, so the memory store finds its states through the items without a lookup), the last
 * single-scope plan (a scope asked for again and again), and the plans of up to {@link SCOPES_KEPT} single
 * scopes (stores that cache per plan, such as Redis's encoded arguments, and the memory store's slots, keep
 * working for them). That last cache never thrashes: when full it stops taking new scopes, which are then
 * made afresh, and it starts over only after {@link MISSES_BEFORE_REFRESH} plans made outside it (so scopes
 * that went quiet leave it in time); while most lookups in it miss, it is not looked in for a while (a
 * lookup that misses among 65,536 entries costs about what making the plan does). Everything follows
 * `rules.version`.
 */
export class PlanCache {
  readonly #rules: ScopeRules;
  #rulesVersion = -1;
  /** Default-cost items of each scope named by an exact pattern. */
  #exact = new Map<string, readonly PlanItem[]>();
  /** Every rule item at cost 0 of each scope named by an exact pattern (see {@link template}). */
  #exactTemplates = new Map<string, readonly PlanItem[]>();
  /** The last single-scope default-cost plan made. */
  #last: Plan | undefined;
  /** Single-scope default-cost plans, up to SCOPES_KEPT. */
  #kept = new Map<string, Plan>();
  /** Plans made outside `#kept` since it was last emptied. */
  #misses = 0;
  /** Lookups in the full `#kept` in the current window of {@link WINDOW}, and how many found their plan. */
  #window = 0;
  #windowHits = 0;
  /** Plans still to make without looking in `#kept` (it was missing more than it found). */
  #bypass = 0;

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
    } else if (request !== null && typeof request === 'object' && request.costs === undefined) {
      // A cost of its own (`{ requests: 1, tokens: 900 }`): its items made from the scopes' template, whose
      // rules and state keys are kept per exact scope, rather than resolved again.
      const template = this.template(request.scopes);
      if (template !== undefined) return applyCost(template, request);
    }
    return buildPlan(request, this.#rules);
  }

  /**
   * Every rule item of the scopes at cost 0 (what `inspectPlan` builds, for stats and corrections), made
   * per pattern like plans (an exact pattern's scope shares its items); `undefined` when the scopes are not a
   * non-empty string or list of them (the caller validates and builds it then).
   */
  template(scopes: string | readonly string[]): Plan | undefined {
    if (typeof scopes === 'string') {
      if (scopes.length === 0) return undefined;
      this.#checkRules();
      return { scopes: [scopes], items: this.#templateOf(scopes) };
    }
    if (!Array.isArray(scopes) || scopes.length === 0) return undefined;
    return this.#list(scopes, true);
  }

  #templateOf(scope: string): readonly PlanItem[] {
    return this.#exactTemplates.get(scope) ?? templateItems(scope, this.#rules.resolvePrefix(scope));
  }

  /** Starts over when the rules changed since the exact scopes' items were made. */
  #checkRules(): void {
    if (this.#rulesVersion === this.#rules.version) return;
    this.#rulesVersion = this.#rules.version;
    this.#last = undefined;
    this.#kept = new Map();
    this.#misses = this.#window = this.#windowHits = this.#bypass = 0;
    this.#exact = new Map();
    this.#exactTemplates = new Map();
    for (const [scope, rules] of this.#rules.exactPatterns()) {
      this.#exact.set(scope, defaultItems(scope, rules));
      this.#exactTemplates.set(scope, templateItems(scope, rules));
    }
  }

  #singleOf(scope: unknown): Plan | undefined {
    return typeof scope === 'string' && scope.length > 0 ? this.#single(scope) : undefined;
  }

  #single(scope: string): Plan {
    this.#checkRules();
    const last = this.#last;
    if (last !== undefined && last.scopes[0] === scope) return last;
    if (this.#bypass > 0) {
      this.#bypass--;
      return this.#make(scope, false);
    }
    const kept = this.#kept.get(scope);
    if (kept === undefined) return this.#make(scope, true);
    if (this.#kept.size >= SCOPES_KEPT) this.#count(true);
    this.#last = kept;
    return kept;
  }

  /** Makes a single-scope plan; kept if there is room. `looked`: it was looked for in the full cache. */
  #make(scope: string, looked: boolean): Plan {
    const plan: Plan = { scopes: [scope], items: this.#itemsOf(scope) };
    if (this.#kept.size < SCOPES_KEPT) {
      this.#kept.set(scope, plan);
    } else if (++this.#misses >= MISSES_BEFORE_REFRESH) {
      this.#kept = new Map();
      this.#misses = this.#window = this.#windowHits = this.#bypass = 0;
    } else if (looked) {
      this.#count(false);
    }
    this.#last = plan;
    return plan;
  }

  /**
   * Counts a lookup in the full cache. A window in which most lookups missed (more active scopes than it
   * holds: a million chats) turns lookups off for the next 16 windows, so that those decisions do not pay a
   * lookup that would miss; then it looks again.
   */
  #count(hit: boolean): void {
    if (hit) this.#windowHits++;
    if (++this.#window < WINDOW) return;
    if (this.#windowHits * 2 < this.#window) this.#bypass = 16 * WINDOW;
    this.#window = this.#windowHits = 0;
  }

  /**
   * The plan of two or more scopes (`template`: every rule item at cost 0 instead); `undefined` when the
   * list holds anything but non-empty strings.
   */
  #list(scopes: readonly unknown[], template = false): Plan | undefined {
    for (let i = 0; i < scopes.length; i++) {
      const scope = scopes[i];
      if (typeof scope !== 'string' || scope.length === 0) return undefined;
    }
    this.#checkRules();
    // A private copy: the caller may change its array while the plan waits (a line, a group commit).
    const list = normalizeScopes((scopes as readonly string[]).slice());
    const items: PlanItem[] = [];
    for (let i = 0; i < list.length; i++) {
      const own = template ? this.#templateOf(list[i]!) : this.#itemsOf(list[i]!);
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

/** Every rule item of `scope` at cost 0 (what `inspectPlan` makes for one scope). */
function templateItems(scope: string, rules: readonly CompiledRule[]): PlanItem[] {
  const items: PlanItem[] = [];
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    items.push({ scope, key: stateKey(scope, rule.name), rule, cost: 0 });
  }
  return items;
}

/** Single-scope plans kept (see {@link PlanCache}). */
const SCOPES_KEPT = 65_536;
/** Lookups per window of the full cache's hit count (see `PlanCache#count`). */
const WINDOW = 4096;
/** Plans made outside a full cache before it starts over: 16 times its size, so refilling it costs little. */
const MISSES_BEFORE_REFRESH = 16 * SCOPES_KEPT;
