import { InvalidArgumentError } from '../core/errors.js';
import type { CompiledRule, Cost, LimitRequest } from '../core/types.js';
import type { ScopeRules } from './rules.js';

/** One rule of one scope that a request charges. */
export interface PlanItem {
  readonly scope: string;
  /** Storage key of the rule's state: `${scope}|${rule.name}`. */
  readonly key: string;
  readonly rule: CompiledRule;
  /** Units charged in the rule's unit (> 0; an adjustment's may be negative). */
  readonly cost: number;
  /**
   * Adjustments only: the instant (ms, ≤ now) of the charge being corrected, e.g. a reservation's admission.
   * The correction is attributed to it (see `Algorithm.adjust`); absent, it is made now.
   */
  readonly at?: number;
  /**
   * A cache for the store that decides the item: its own handle on the item's state (the memory store keeps
   * its entry here, which saves a map lookup per rule and decision). Items are shared by plans and outlive
   * states, so a store checks what it finds here before using it; other stores ignore it.
   */
  slot?: unknown;
}

/** A request resolved against the rules: what a backend evaluates atomically. */
export interface Plan {
  /** Distinct scopes, in request order (checked for blocks). */
  readonly scopes: readonly string[];
  readonly items: readonly PlanItem[];
  /**
   * An endpoint pool (see `choices.ts`): the plans to try, in this order, each the request's own items and
   * scopes plus those of one alternative. A store admits the first that fits and charges only it.
   */
  readonly choices?: readonly Choice[];
}

/** One alternative of a pooled plan: the whole plan charged when it is the one admitted. */
export interface Choice {
  /** Index of the alternative in the request's `alternatives`. */
  readonly alternative: number;
  readonly plan: Plan;
}

/** Storage key of a rule's state. */
export function stateKey(scope: string, rule: string): string {
  return `${scope}|${rule}`;
}

export function normalizeScopes(scopes: LimitRequest['scopes'], field = 'scopes'): readonly string[] {
  const list = typeof scopes === 'string' ? [scopes] : scopes;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidArgumentError(field, 'a scope key or a non-empty array of scope keys', scopes);
  }
  for (const scope of list) {
    if (typeof scope !== 'string' || scope.length === 0) {
      throw new InvalidArgumentError(field, 'non-empty strings', scope);
    }
  }
  return hasDuplicates(list) ? [...new Set(list)] : list;
}

/** Whether a scope list names a scope twice (a pairwise check: lists are short, and it allocates nothing). */
function hasDuplicates(list: readonly string[]): boolean {
  if (list.length > 16) return new Set(list).size !== list.length;
  for (let i = 1; i < list.length; i++) {
    for (let j = 0; j < i; j++) if (list[i] === list[j]) return true;
  }
  return false;
}

/** The cost of a request in one unit. */
export function costIn(cost: Cost | undefined, unit: string, field = 'cost'): number {
  if (cost === undefined) return unit === 'requests' ? 1 : 0;
  if (typeof cost === 'number') {
    if (!Number.isFinite(cost) || cost < 0)
      throw new InvalidArgumentError(field, 'a finite number >= 0', cost);
    return unit === 'requests' ? cost : 0;
  }
  const value = cost[unit];
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(`${field}.${unit}`, 'a finite number >= 0', value);
  }
  return value;
}

function validateCost(cost: Cost | undefined): void {
  if (cost === undefined || typeof cost === 'number') {
    costIn(cost, 'requests');
    return;
  }
  if (cost === null || typeof cost !== 'object') {
    throw new InvalidArgumentError('cost', 'a number or an object of unit → amount', cost);
  }
  for (const unit of Object.keys(cost)) costIn(cost, unit);
}

/**
 * Resolves a request into the rule items it charges. Rules whose unit the request does not cost are left
 * out (they admit anything of cost 0), so a token-only estimate never touches request counters.
 */
export function buildPlan(request: LimitRequest, rules: ScopeRules, field = 'request'): Plan {
  if (request === null || typeof request !== 'object') {
    throw new InvalidArgumentError(field, 'an object { scopes, cost? }', request);
  }
  return applyCost(inspectPlan(normalizeScopes(request.scopes, `${field}.scopes`), rules), request, field);
}

/**
 * The plan of `request` from the cost-free plan of its scopes (see {@link inspectPlan}), so that callers can
 * cache the part that only depends on the scopes and the rules. Validates the request's cost.
 */
export function applyCost(template: Plan, request: LimitRequest, field = 'request'): Plan {
  validateCost(request.cost);
  const costs = request.costs;
  if (costs !== undefined) {
    if (costs === null || typeof costs !== 'object') {
      throw new InvalidArgumentError(`${field}.costs`, 'an object of scope → cost', costs);
    }
    for (const c of Object.values(costs)) validateCost(c);
  }
  const items: PlanItem[] = [];
  for (const slot of template.items) {
    const cost = costIn(costs?.[slot.scope] ?? request.cost, slot.rule.unit);
    if (cost > 0) items.push({ scope: slot.scope, key: slot.key, rule: slot.rule, cost });
  }
  return { scopes: template.scopes, items };
}

/** Every rule item of the given scopes, with cost 0 (for stats and peeks). */
export function inspectPlan(scopes: readonly string[], rules: ScopeRules): Plan {
  const items: PlanItem[] = [];
  for (const scope of scopes) {
    for (const rule of rules.resolve(scope))
      items.push({ scope, key: stateKey(scope, rule.name), rule, cost: 0 });
  }
  return { scopes, items };
}
