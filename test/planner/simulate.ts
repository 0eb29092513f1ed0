import { MemoryBackend } from '../../src/backends/memory/index.js';
import type { Clock } from '../../src/core/clock.js';
import { parseDuration } from '../../src/core/duration.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import type { PlanEndpoint, PlanJobType } from '../../src/planner/types.js';

/** The order in which a simulated worker tries the endpoints (indexes); default primary first. */
export type Order = (endpoints: number) => number[];

export interface SimOptions {
  type: PlanJobType;
  /** Jobs to run (backlog plus leftovers). */
  jobs: number;
  workers: number;
  deadlineMs: number;
  /** Absolute start (ms since the epoch). */
  origin: number;
  order?: Order;
}

export interface SimResult {
  finished: number;
  /** Relative time the last job finished (0 when none ran). */
  finishMs: number;
  perEndpoint: Record<string, number>;
  /** Relative start time of every job, in order. */
  starts: number[];
}

/**
 * A tiny discrete simulation of a run, written independently of the planner: `workers` separate workers,
 * each pulling the next job when it is free, asking a real {@link RateLimiter} (memory backend, a clock this
 * loop moves) for a call on the type's endpoints, and when none admits, retrying at the earliest
 * `retryAfterMs`. A job may only start if it finishes by the deadline.
 */
export function simulate(options: SimOptions): SimResult {
  const { type, jobs, workers, deadlineMs, origin } = options;
  const order: Order = options.order ?? ((n) => Array.from({ length: n }, (_, i) => i));
  const durationMs = parseDuration(type.duration);
  let now = origin;
  const clock: Clock = { now: () => now, sleep: async () => {} };
  const scopes: Record<string, { limit: number; window: PlanEndpoint['window'] }> = {};
  type.endpoints.forEach((e, i) => {
    scopes[`ep:${i}`] = ruleOf(e);
  });
  const limiter = new RateLimiter({ clock, backend: new MemoryBackend(), scopes });
  const free = Array.from({ length: workers }, () => origin);
  const perEndpoint: Record<string, number> = Object.fromEntries(type.endpoints.map((e) => [e.name, 0]));
  const starts: number[] = [];
  let finishAbs = origin;

  while (starts.length < jobs && workers > 0) {
    let w = 0;
    for (let i = 1; i < free.length; i++) if (free[i]! < free[w]!) w = i;
    now = free[w]!;
    if (now + durationMs > origin + deadlineMs) break;
    // Try the endpoints in order; the first that admits is charged (tryAcquireSync charges only if allowed).
    let chosen = -1;
    let retry = Number.POSITIVE_INFINITY;
    for (const i of order(type.endpoints.length)) {
      const decision = limiter.tryAcquireSync({ scopes: `ep:${i}` });
      if (decision.allowed) {
        chosen = i;
        break;
      }
      retry = Math.min(retry, decision.retryAfterMs);
    }
    if (chosen < 0) {
      if (retry === Number.POSITIVE_INFINITY) break;
      free[w] = now + retry;
      continue;
    }
    perEndpoint[type.endpoints[chosen]!.name]! += 1;
    starts.push(now - origin);
    free[w] = now + durationMs;
    finishAbs = Math.max(finishAbs, now + durationMs);
  }
  return { finished: starts.length, finishMs: finishAbs - origin, perEndpoint, starts };
}

function ruleOf(e: PlanEndpoint): { limit: number; window: PlanEndpoint['window'] } {
  return {
    limit: e.limit,
    window: e.window,
    ...(e.algorithm ? { algorithm: e.algorithm } : {}),
    ...(e.burst !== undefined ? { burst: e.burst } : {}),
  };
}
