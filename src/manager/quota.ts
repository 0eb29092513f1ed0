import type { LimitRequest, RuleStats } from '../core/types.js';
import { inspectPlan, type Plan } from '../engine/plan.js';
import type { RateLimiter } from '../limiter/rate-limiter.js';
import type { PreparedBatch } from './options.js';

/**
 * The manager's own quota on the limiter: reads of it (shared by the callers of one tick on asynchronous
 * backends), the limiter request of a batch, and refunds.
 */
export class ManagerQuota {
  readonly #limiter: RateLimiter;
  /** The limiter scope of the quota. */
  readonly scope: string;
  readonly #plan: Plan;
  /** Requests of scope-less batches by size (the limiter caches their plans). */
  readonly #plainRequests = new Map<number, LimitRequest>();
  /** The quota read shared by the callers of one tick, on asynchronous backends (Redis). */
  #read: Promise<RuleStats> | undefined;

  constructor(limiter: RateLimiter, scope: string) {
    this.#limiter = limiter;
    this.scope = scope;
    this.#plan = inspectPlan([scope], limiter.rules);
  }

  /** The quota's rule now (synchronously on memory and SQLite). */
  read(now: number): RuleStats | Promise<RuleStats> {
    if (this.#read) return this.#read;
    const stats = this.#limiter.backend.limits.inspect(this.#plan, now);
    if (!(stats instanceof Promise)) return stats[0]!;
    // Asynchronous backend: the reads of one tick share one round trip. No answer changes: a charge made
    // in the same tick is sent after the read anyway (decisions are coalesced on the next tick).
    this.#read = stats.then((list) => list[0]!);
    process.nextTick(() => {
      this.#read = undefined;
    });
    return this.#read;
  }

  /** The limiter request of a batch: its size on the quota, each scope's share (at most the size) on that scope. */
  request(
    scopes: readonly string[],
    costs: Readonly<Record<string, number>> | undefined,
    size: number,
  ): LimitRequest {
    if (scopes.length === 0) {
      let request = this.#plainRequests.get(size);
      if (!request) {
        request = { scopes: this.scope, cost: size };
        if (this.#plainRequests.size < 1024) this.#plainRequests.set(size, request);
      }
      return request;
    }
    const shares: Record<string, number> = {};
    for (const scope of scopes) shares[scope] = Math.min(size, costs?.[scope] ?? size);
    return { scopes: [this.scope, ...scopes], cost: size, costs: shares };
  }

  /** Gives back what was charged for a batch that could not be recorded. */
  async refund<T>(batch: PreparedBatch<T>): Promise<void> {
    await this.#limiter.adjust({ scopes: this.scope, delta: -batch.messages.length });
    for (const scope of batch.scopes)
      await this.#limiter.adjust({ scopes: scope, delta: -batch.costs[scope]! });
  }
}
