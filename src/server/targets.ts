import { parsePositiveDuration } from '../core/duration.js';
import type { Rule } from '../core/types.js';
import type { ServerConfig } from './config.js';

/** One URL of a target: the primary (index 0) or an overflow endpoint (1, 2, …), each with its own limits. */
export interface Endpoint {
  target: string;
  /** 0 = the primary URL, 1.. = the overflow URLs in config order (the manager's `context.alternative`). */
  index: number;
  url: string;
  /** The target's headers, then the endpoint's own. */
  headers: Readonly<Record<string, string>>;
  /** Its limiter scope, `target:NAME#INDEX`. */
  scope: string;
  rules: readonly Rule[];
}

/** A delivery target of the config, ready to send to. */
export interface Target {
  name: string;
  method: 'POST' | 'PUT' | 'PATCH';
  timeoutMs: number;
  /** Primary first, then overflow. */
  endpoints: readonly Endpoint[];
}

/** The limiter scope of one endpoint of a target. */
export function endpointScope(target: string, index: number): string {
  return `target:${target}#${index}`;
}

/** Compiles the `targets:` section of the config. */
export function compileTargets(targets: ServerConfig['targets']): ReadonlyMap<string, Target> {
  const out = new Map<string, Target>();
  for (const [name, t] of Object.entries(targets)) {
    const urls = [{ url: t.url, headers: {}, limits: t.limits }, ...t.overflow];
    out.set(name, {
      name,
      method: t.method,
      timeoutMs: parsePositiveDuration(t.timeout, `targets.${name}.timeout`),
      endpoints: urls.map((e, index) => ({
        target: name,
        index,
        url: e.url,
        headers: { ...t.headers, ...e.headers },
        scope: endpointScope(name, index),
        rules: e.limits as Rule[],
      })),
    });
  }
  return out;
}

/** The limiter scopes of every endpoint that has limits, for the manager's `scopes` option. */
/** The manager's endpoint pool of a target: its primary then its overflow endpoints (see `pools`). */
export function targetPool(target: string): string {
  return `target:${target}`;
}

/** Every target as a manager endpoint pool: `target:NAME` → [`target:NAME#0`, `target:NAME#1`, …]. */
export function targetPools(targets: ReadonlyMap<string, Target>): Record<string, string[]> {
  const pools: Record<string, string[]> = {};
  for (const target of targets.values())
    pools[targetPool(target.name)] = target.endpoints.map((e) => e.scope);
  return pools;
}

export function endpointRules(targets: ReadonlyMap<string, Target>): Record<string, readonly Rule[]> {
  const scopes: Record<string, readonly Rule[]> = {};
  for (const target of targets.values()) {
    for (const endpoint of target.endpoints) {
      if (endpoint.rules.length > 0) scopes[endpoint.scope] = endpoint.rules;
    }
  }
  return scopes;
}
