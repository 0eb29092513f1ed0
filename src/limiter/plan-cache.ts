import type { LimitRequest } from '../core/types.js';
import {
  applyCost,
  buildPlan,
  inspectPlan,
  normalizeScopes,
  type Plan,
  type PlanItem,
} from '../engine/plan.js';
import type { ScopeRules } from '../engine/rules.js';

/**
 * Plans of requests, cached so that a decision does not resolve rules and build state keys each time.
 * Follows `rules.version`: any change to the rules drops every cached plan.
 */
export class PlanCache {
  readonly #rules: ScopeRules;
  /** Single-scope plans by scope. */
  readonly #plans = new Map<string, CachedPlan>();
  /** Plans of scope lists, a tree of maps keyed one scope at a time. */
  #listPlans = new Map<string, ListNode>();
  #listPlanCount = 0;
  readonly #scopeItems = new Map<string, ScopeItems>();
  #rulesVersion = -1;

  constructor(rules: ScopeRules) {
    this.#rules = rules;
  }

  /**
   * Resolves a request to its plan. The cost-free plan of a scope list (rules resolved, state keys built)
   * is cached, and so is the whole plan of a default-cost request; the cache follows rule changes.
   */
  plan(request: LimitRequest): Plan {
    if (request !== null && typeof request === 'object') {
      const scopes = request.scopes;
      let entry: CachedPlan | undefined;
      if (typeof scopes === 'string') {
        if (scopes.length > 0) entry = this.#cached(scopes);
      } else if (Array.isArray(scopes) && scopes.length > 0) {
        entry = scopes.length === 1 ? this.#cachedOne(scopes[0]) : this.#cachedList(scopes);
      }
      if (entry) {
        if (request.cost === undefined && request.costs === undefined) return entry;
        return applyCost(entry.template, request);
      }
    }
    return buildPlan(request, this.#rules);
  }

  /**
   * Every rule item of the scopes at cost 0 (what `inspectPlan` builds), cached like plans; `undefined` when
   * the scopes are not a non-empty string or list of them (the caller validates and builds it then).
   */
  template(scopes: string | readonly string[]): Plan | undefined {
    let entry: CachedPlan | undefined;
    if (typeof scopes === 'string') {
      if (scopes.length > 0) entry = this.#cached(scopes);
    } else if (Array.isArray(scopes) && scopes.length > 0) {
      entry = scopes.length === 1 ? this.#cachedOne(scopes[0]) : this.#cachedList(scopes);
    }
    return entry?.template;
  }

  /** Drops every cached plan when the rules changed since they were made. */
  #checkRules(): void {
    if (this.#rulesVersion !== this.#rules.version) {
      this.#plans.clear();
      this.#listPlans = new Map();
      this.#listPlanCount = 0;
      this.#scopeItems.clear();
      this.#rulesVersion = this.#rules.version;
    }
  }

  /** The plan of one scope, or `undefined` (not cached) when it is not a non-empty string. */
  #cachedOne(scope: unknown): CachedPlan | undefined {
    return typeof scope === 'string' && scope.length > 0 ? this.#cached(scope) : undefined;
  }

  #cached(scope: string): CachedPlan {
    this.#checkRules();
    let entry = this.#plans.get(scope);
    if (!entry) {
      entry = this.#makePlan([scope]);
      if (this.#plans.size >= PLAN_CACHE_SIZE) this.#plans.clear();
      this.#plans.set(scope, entry);
    }
    return entry;
  }

  /**
   * The plan of a list of two or more scopes, found one scope at a time: a hash lookup per scope (on a
   * string whose hash is usually known already) instead of building and hashing a key per call.
   * `undefined` (not cached) when the list holds anything but non-empty strings.
   */
  #cachedList(scopes: readonly unknown[]): CachedPlan | undefined {
    this.#checkRules();
    const last = scopes.length - 1;
    let level = this.#listPlans;
    for (let i = 0; ; i++) {
      const scope = scopes[i];
      if (typeof scope !== 'string' || scope.length === 0) return undefined;
      let node = level.get(scope);
      if (node === undefined) {
        node = { plan: undefined, next: undefined };
        level.set(scope, node);
      }
      if (i === last) return node.plan ?? this.#addListPlan(node, scopes);
      level = node.next ??= new Map();
    }
  }

  /** Caches the plan of a list at its node (a full cache starts over, then files the list again). */
  #addListPlan(node: ListNode, scopes: readonly unknown[]): CachedPlan | undefined {
    if (this.#listPlanCount >= PLAN_CACHE_SIZE) {
      this.#listPlans = new Map();
      this.#listPlanCount = 0;
      return this.#cachedList(scopes);
    }
    this.#listPlanCount++;
    node.plan = this.#makePlan(scopes as readonly string[]);
    return node.plan;
  }

  /** A plan for the cache, made from a private copy of the list: the caller may change its array later. */
  #makePlan(scopes: readonly string[]): CachedPlan {
    const list = normalizeScopes([...scopes]);
    const items: PlanItem[] = [];
    const plain: PlanItem[] = [];
    for (const scope of list) {
      const cached = this.#itemsOf(scope);
      items.push(...cached.items);
      plain.push(...cached.plain);
    }
    return { scopes: list, items: plain, template: { scopes: list, items } };
  }

  /**
   * The items of one scope, shared by every cached plan that passes through it: a scope common to many
   * plans (`global`) then has one set of items and state keys, which stay in CPU caches and let the store
   * find its states by identical key strings.
   */
  #itemsOf(scope: string): ScopeItems {
    let cached = this.#scopeItems.get(scope);
    if (!cached) {
      const template = inspectPlan([scope], this.#rules);
      cached = { items: template.items, plain: applyCost(template, { scopes: scope }).items };
      if (this.#scopeItems.size >= PLAN_CACHE_SIZE) this.#scopeItems.clear();
      this.#scopeItems.set(scope, cached);
    }
    return cached;
  }
}

/** Plans kept per cache (single scopes and scope lists each); a full cache starts over. */
const PLAN_CACHE_SIZE = 65_536;

/** The plan of a request without `cost` or `costs` (one object: one memory load less per decision). */
interface CachedPlan extends Plan {
  /** Every rule item of the scopes at cost 0, for requests with a cost. */
  readonly template: Plan;
}

/** A scope in a cached scope list: the plan of the list that ends with it, and the lists that go on. */
interface ListNode {
  plan: CachedPlan | undefined;
  next: Map<string, ListNode> | undefined;
}

interface ScopeItems {
  /** Every rule item of the scope at cost 0. */
  readonly items: readonly PlanItem[];
  /** Its items at the default cost (one request). */
  readonly plain: readonly PlanItem[];
}
