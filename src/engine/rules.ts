import { slidingStep } from '../algorithms/sliding-window.js';
import { parsePositiveDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { AlgorithmName, CompiledRule, Rule } from '../core/types.js';

const ALGORITHMS: readonly AlgorithmName[] = [
  'sliding-window',
  'token-bucket',
  'fixed-window',
  'anchored-window',
];

/** Validates a {@link Rule}, applies defaults and precomputes its constants. `field` is named in errors. */
export function compileRule(rule: Rule, field = 'rule'): CompiledRule {
  if (rule === null || typeof rule !== 'object') throw new InvalidArgumentError(field, 'a rule object', rule);
  const { limit, algorithm = 'sliding-window', unit = 'requests' } = rule;
  if (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0) {
    throw new InvalidArgumentError(`${field}.limit`, 'a finite number >= 0', limit);
  }
  const windowMs = parsePositiveDuration(rule.window, `${field}.window`);
  if (!ALGORITHMS.includes(algorithm)) {
    throw new InvalidArgumentError(`${field}.algorithm`, `one of ${ALGORITHMS.join(', ')}`, algorithm);
  }
  if (typeof unit !== 'string' || unit.length === 0 || unit.includes('|')) {
    throw new InvalidArgumentError(`${field}.unit`, "a non-empty string without '|'", unit);
  }
  let capacity = limit;
  let step = slidingStep(windowMs);
  if (algorithm === 'token-bucket') {
    const burst = rule.burst ?? limit;
    if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 0) {
      throw new InvalidArgumentError(`${field}.burst`, 'a finite number >= 0', burst);
    }
    if (limit === 0)
      throw new InvalidArgumentError(`${field}.limit`, 'a number > 0 for a token bucket', limit);
    capacity = burst;
    step = windowMs / limit;
  } else if (rule.burst !== undefined) {
    throw new InvalidArgumentError(
      `${field}.burst`,
      "no burst unless algorithm is 'token-bucket'",
      rule.burst,
    );
  }
  const name = rule.name ?? `${unit}/${windowMs}ms`;
  // State keys are `${scope}|${name}`: a name without '|' keeps every (scope, rule) key distinct.
  if (typeof name !== 'string' || name.length === 0 || name.includes('|')) {
    throw new InvalidArgumentError(`${field}.name`, "a non-empty string without '|'", name);
  }
  return Object.freeze({ name, algorithm, unit, limit, windowMs, capacity, step });
}

/** Compiles one rule or a list; rejects two rules with the same name in one scope. */
export function compileRules(rules: Rule | readonly Rule[], field: string): readonly CompiledRule[] {
  const list = Array.isArray(rules) ? rules : [rules as Rule];
  const compiled = list.map((rule, i) => compileRule(rule, Array.isArray(rules) ? `${field}[${i}]` : field));
  const names = new Set<string>();
  for (const rule of compiled) {
    if (names.has(rule.name)) {
      throw new InvalidArgumentError(
        field,
        'rules with distinct names (set `name` to tell them apart)',
        rule.name,
      );
    }
    names.add(rule.name);
  }
  return Object.freeze(compiled);
}

/**
 * Which rules apply to a scope key. Patterns are exact keys (`'global'`), prefixes ending in `*`
 * (`'chat:*'`), or `'*'` for every scope. The most specific wins: exact, then the longest prefix.
 * A scope no pattern matches has no rules (it can still be blocked).
 *
 * Resolving keeps nothing per scope key: a scope is one lookup among the exact patterns, then a scan of the
 * prefixes (longest first), so a million distinct chat keys cost what ten do (no per-key cache to outgrow).
 */
export class ScopeRules {
  readonly #exact = new Map<string, readonly CompiledRule[]>();
  /** The rules of each exact pattern that a request of the default cost charges (see {@link charged}). */
  readonly #exactCharged = new Map<string, readonly CompiledRule[]>();
  #prefixes: Array<{ prefix: string; rules: readonly CompiledRule[]; charged: readonly CompiledRule[] }> = [];
  #version = 0;
  #token: object = {};

  /** Changes whenever a pattern is defined or removed (lets callers cache what they derive from rules). */
  get version(): number {
    return this.#version;
  }

  /**
   * An object of its own for these rules at this version (replaced whenever `version` changes): what a
   * store shared by several limiters remembers beside what it derived from one of them.
   */
  get token(): object {
    return this.#token;
  }

  constructor(scopes: Readonly<Record<string, Rule | readonly Rule[]>> = {}, field = 'scopes') {
    if (scopes === null || typeof scopes !== 'object') {
      throw new InvalidArgumentError(field, 'an object of scope patterns to rules', scopes);
    }
    for (const [pattern, rules] of Object.entries(scopes))
      this.define(pattern, rules, `${field}[${pattern}]`);
  }

  /** Sets (or replaces) the rules of a pattern. */
  define(pattern: string, rules: Rule | readonly Rule[], field = `scopes[${pattern}]`): void {
    if (typeof pattern !== 'string' || pattern.length === 0) {
      throw new InvalidArgumentError(field, 'a non-empty scope pattern', pattern);
    }
    const compiled = compileRules(rules, field);
    if (pattern.endsWith('*')) {
      const prefix = pattern.slice(0, -1);
      this.#prefixes = this.#prefixes.filter((p) => p.prefix !== prefix);
      this.#prefixes.push({ prefix, rules: compiled, charged: chargedOf(compiled) });
      this.#prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
    } else {
      this.#exact.set(pattern, compiled);
      this.#exactCharged.set(pattern, chargedOf(compiled));
    }
    this.#version++;
    this.#token = {};
  }

  /** Removes a pattern's rules. */
  remove(pattern: string): boolean {
    this.#version++;
    this.#token = {};
    if (pattern.endsWith('*')) {
      const before = this.#prefixes.length;
      this.#prefixes = this.#prefixes.filter((p) => p.prefix !== pattern.slice(0, -1));
      return this.#prefixes.length !== before;
    }
    this.#exactCharged.delete(pattern);
    return this.#exact.delete(pattern);
  }

  /** The rules of a scope key (the same array for every key of a pattern). */
  resolve(scope: string): readonly CompiledRule[] {
    return this.#exact.get(scope) ?? this.resolvePrefix(scope);
  }

  /** The rules of the longest prefix pattern `scope` starts with, ignoring exact patterns. */
  resolvePrefix(scope: string): readonly CompiledRule[] {
    const prefixes = this.#prefixes;
    for (let i = 0; i < prefixes.length; i++) {
      const entry = prefixes[i]!;
      if (scope.startsWith(entry.prefix)) return entry.rules;
    }
    return EMPTY;
  }

  /**
   * The rules of a scope key that a request of the default cost (one request) charges: those counting
   * `requests`, in order (the same frozen array for every key of a pattern). What `buildPlan` charges for
   * `{ scopes }` on this scope, each at cost 1.
   */
  charged(scope: string): readonly CompiledRule[] {
    const exact = this.#exactCharged.get(scope);
    if (exact !== undefined) return exact;
    const prefixes = this.#prefixes;
    for (let i = 0; i < prefixes.length; i++) {
      const entry = prefixes[i]!;
      if (scope.startsWith(entry.prefix)) return entry.charged;
    }
    return EMPTY;
  }

  /** The exact patterns (keys without `*`) and their rules. */
  exactPatterns(): ReadonlyMap<string, readonly CompiledRule[]> {
    return this.#exact;
  }

  /** The patterns defined, with their rules. */
  patterns(): Array<{ pattern: string; rules: readonly CompiledRule[] }> {
    return [
      ...[...this.#exact].map(([pattern, rules]) => ({ pattern, rules })),
      ...this.#prefixes.map(({ prefix, rules }) => ({ pattern: `${prefix}*`, rules })),
    ];
  }
}

const EMPTY: readonly CompiledRule[] = Object.freeze([]);

/** The rules among `rules` that count requests (what a request of the default cost charges). */
function chargedOf(rules: readonly CompiledRule[]): readonly CompiledRule[] {
  return Object.freeze(rules.filter((rule) => rule.unit === 'requests'));
}
