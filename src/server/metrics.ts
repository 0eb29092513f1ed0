import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Backend, Priority } from '../backends/types.js';
import { PRIORITIES } from '../backends/types.js';
import type { Decision, LimitRequest } from '../core/types.js';
import type { RateLimiter } from '../limiter/rate-limiter.js';
import type { RateLimitManager } from '../manager/manager.js';
import type { Endpoint } from './targets.js';

/** The scope pattern a key falls under (most specific first: exact, longest prefix, `*`), for labels. */
export function patternMatcher(patterns: readonly string[]): (scope: string) => string {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns
    .filter((p) => p.endsWith('*'))
    .map((p) => p.slice(0, -1))
    .sort((a, b) => b.length - a.length);
  return (scope) => {
    if (exact.has(scope)) return scope;
    for (const prefix of prefixes) if (scope.startsWith(prefix)) return `${prefix}*`;
    return 'other';
  };
}

/** Scopes whose remaining quota is exported (no wildcard patterns: they have no single value). */
export interface QuotaScope {
  scope: string;
  /** `target` label: the target's name, or `''` for the manager's own quota. */
  target: string;
}

export interface ServerMetricsOptions {
  manager: RateLimitManager<unknown>;
  backend: Backend;
  /** Configured scope patterns (labels of admitted / refused). */
  patterns: readonly string[];
  quotaScopes: readonly QuotaScope[];
}

/**
 * The service's Prometheus metrics, in a registry of its own (several servers in one process do not mix).
 * Gauges are read from the manager and the backend when scraped.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly admitted: Counter<'scope'>;
  readonly refused: Counter<'scope'>;
  readonly sent: Counter<'target' | 'endpoint'>;
  readonly retries: Counter;
  readonly deadLettered: Counter;
  readonly dropped: Counter<'status'>;
  readonly rateLimited: Counter<'target' | 'endpoint'>;
  readonly latency: Histogram<'target'>;
  readonly #pattern: (scope: string) => string;

  constructor(options: ServerMetricsOptions) {
    const registers = [this.registry];
    const { manager, backend } = options;
    this.#pattern = patternMatcher([...options.patterns, manager.scope]);
    this.admitted = new Counter({
      name: 'ratekeeper_admitted_total',
      help: 'Limiter decisions that admitted a request, by scope pattern',
      labelNames: ['scope'],
      registers,
    });
    this.refused = new Counter({
      name: 'ratekeeper_refused_total',
      help: 'Limiter decisions that refused a request, by the scope pattern that refused it',
      labelNames: ['scope'],
      registers,
    });
    this.sent = new Counter({
      name: 'ratekeeper_sent_total',
      help: 'Messages delivered (2xx), by target and endpoint index',
      labelNames: ['target', 'endpoint'],
      registers,
    });
    this.retries = new Counter({
      name: 'ratekeeper_retries_total',
      help: 'Messages scheduled for another attempt after a failure',
      registers,
    });
    this.deadLettered = new Counter({
      name: 'ratekeeper_dead_lettered_total',
      help: 'Messages moved to the dead-letter queue',
      registers,
    });
    this.dropped = new Counter({
      name: 'ratekeeper_dropped_total',
      help: 'Messages dropped at submission, by status',
      labelNames: ['status'],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'ratekeeper_upstream_429_total',
      help: '429 answers received, by target and endpoint index',
      labelNames: ['target', 'endpoint'],
      registers,
    });
    this.latency = new Histogram({
      name: 'ratekeeper_delivery_duration_seconds',
      help: 'Time from sending a message to its target until the answer',
      labelNames: ['target'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    // One read of the queue per scrape, shared by the gauges below. When the backend does not answer, the
    // gauges keep their last values: /metrics still answers (and shows the backend mode).
    type Stats = Awaited<ReturnType<RateLimitManager['stats']>>;
    let statsRead: Promise<Stats | undefined> | undefined;
    const stats = () => {
      statsRead ??= manager
        .stats()
        .catch(() => undefined)
        .finally(() => setImmediate(() => (statsRead = undefined)));
      return statsRead;
    };
    new Gauge({
      name: 'ratekeeper_queued',
      help: 'Messages waiting, by priority',
      labelNames: ['priority'],
      registers,
      async collect(this: Gauge<'priority'>) {
        const s = await stats();
        if (s) for (const p of PRIORITIES) this.set({ priority: p }, s.queued[p as Priority]);
      },
    });
    const single = (name: string, help: string, read: (s: Stats) => number) =>
      new Gauge({
        name,
        help,
        registers,
        async collect(this: Gauge) {
          const s = await stats();
          if (s) this.set(read(s));
        },
      });
    single('ratekeeper_retrying', 'Messages waiting for a retry', (s) => s.retrying);
    single('ratekeeper_in_flight', 'Messages leased to a sender', (s) => s.inFlight);
    single('ratekeeper_dead_letters', 'Messages in the dead-letter queue', (s) => s.deadLettered);
    new Gauge({
      name: 'ratekeeper_backend_mode',
      help: 'Backend in use: 1 for the current mode (memory, sqlite, redis, fallback)',
      labelNames: ['mode'],
      registers,
      collect(this: Gauge<'mode'>) {
        this.reset();
        this.set({ mode: backendMode(backend) }, 1);
      },
    });
    const scopes = options.quotaScopes;
    let quotaRead: Promise<Array<{ remaining: number; limit: number }> | undefined> | undefined;
    const quotas = () => {
      quotaRead ??= Promise.all(
        scopes.map(async ({ scope }) => {
          const rules = await manager.limiter.stats(scope);
          let tightest = { remaining: Number.POSITIVE_INFINITY, limit: 0 };
          for (const r of rules) {
            const left = r.blockedMs > 0 ? 0 : r.remaining;
            if (left < tightest.remaining) tightest = { remaining: left, limit: r.limit };
          }
          return tightest;
        }),
      )
        .catch(() => undefined)
        .finally(() => setImmediate(() => (quotaRead = undefined)));
      return quotaRead;
    };
    const perScope = (
      name: string,
      help: string,
      read: (q: { remaining: number; limit: number }) => number,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['scope', 'target'],
        registers,
        async collect(this: Gauge<'scope' | 'target'>) {
          const values = await quotas();
          if (!values) return;
          scopes.forEach((s, i) => {
            const q = values[i]!;
            if (Number.isFinite(q.remaining)) this.set({ scope: s.scope, target: s.target }, read(q));
          });
        },
      });
    perScope(
      'ratekeeper_quota_remaining',
      'Quota left now per limiter scope (its tightest rule; 0 while blocked); target "" is the manager quota',
      (q) => q.remaining,
    );
    perScope('ratekeeper_quota_limit', 'Limit of the tightest rule per limiter scope', (q) => q.limit);
    this.#observeLimiter(manager.limiter);
    manager.on('retry', ({ ids }) => this.retries.inc(ids.length));
    manager.on('dead-lettered', ({ ids }) => this.deadLettered.inc(ids.length));
    manager.on('dropped', ({ ids, status }) => this.dropped.inc({ status }, ids.length));
  }

  /** A message reached its endpoint. */
  delivered(endpoint: Endpoint, ms: number): void {
    this.sent.inc({ target: endpoint.target, endpoint: String(endpoint.index) });
    this.latency.observe({ target: endpoint.target }, ms / 1000);
  }

  /** The endpoint answered 429. */
  limited(endpoint: Endpoint): void {
    this.rateLimited.inc({ target: endpoint.target, endpoint: String(endpoint.index) });
  }

  /** The exposition text. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  /** Counts the limiter's decisions (the manager's quota, message scopes, endpoints) as they are made. */
  #observeLimiter(limiter: RateLimiter): void {
    const count = (request: LimitRequest, decision: Decision) => {
      try {
        if (decision.allowed) {
          const scopes = typeof request.scopes === 'string' ? [request.scopes] : request.scopes;
          for (const scope of scopes) this.admitted.inc({ scope: this.#pattern(scope) });
          // An endpoint pool: the alternative it was admitted on (a target's primary or overflow endpoint).
          const chosen =
            decision.alternative === undefined ? undefined : request.alternatives?.[decision.alternative];
          if (chosen) {
            for (const scope of typeof chosen.scopes === 'string' ? [chosen.scopes] : chosen.scopes) {
              this.admitted.inc({ scope: this.#pattern(scope) });
            }
          }
        } else if (decision.blockedBy) {
          this.refused.inc({ scope: this.#pattern(decision.blockedBy.scope) });
        }
      } catch {
        // Metrics never change a decision.
      }
    };
    const one = limiter.tryAcquire.bind(limiter);
    const many = limiter.tryAcquireMany.bind(limiter);
    limiter.tryAcquire = async (request) => {
      const decision = await one(request);
      count(request, decision);
      return decision;
    };
    const sync = limiter.tryAcquireSync.bind(limiter);
    // The manager decides its offers with this one on SQLite (inside one transaction per loop turn).
    limiter.tryAcquireSync = (request) => {
      const decision = sync(request);
      count(request, decision);
      return decision;
    };
    limiter.tryAcquireMany = async (requests) => {
      const decisions = await many(requests);
      for (let i = 0; i < decisions.length; i++) count(requests[i]!, decisions[i]!);
      return decisions;
    };
  }
}

/** `memory`, `sqlite`, `redis`, or `fallback` while a Redis backend runs on its in-memory fallback. */
export function backendMode(backend: Backend): string {
  const health = (backend as { health?: { mode?: string } }).health;
  return backend.kind === 'redis' && health?.mode ? health.mode : backend.kind;
}
