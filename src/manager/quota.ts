import { InvalidArgumentError } from '../core/errors.js';
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
  /** The quota read shared by the callers of one synchronous run at one clock time (memory, SQLite). */
  #syncRead: RuleStats | undefined;
  #syncAt = 0;
  /** The read issued behind the loop's decisions, for its next pass (asynchronous backends only). */
  #ahead: { at: number; stats: Promise<RuleStats> } | undefined;

  readonly #pools: ReadonlyMap<string, ReadonlyArray<readonly string[]>>;
  /**
   * Messages of direct offers admitted on a quota read but not charged yet: the manager subtracts them from
   * what a read says, so offers made together (each reads before any charges) keep the low-quota reserve.
   */
  pending = 0;

  constructor(
    limiter: RateLimiter,
    scope: string,
    pools: ReadonlyMap<string, ReadonlyArray<readonly string[]>>,
  ) {
    this.#limiter = limiter;
    this.scope = scope;
    this.#plan = inspectPlan([scope], limiter.rules);
    this.#pools = pools;
  }

  /** The endpoint pool a batch's scopes pass through, if any. @throws InvalidArgumentError for two pools. */
  poolOf(scopes: readonly string[]): string | undefined {
    if (this.#pools.size === 0) return undefined;
    let pool: string | undefined;
    for (const scope of scopes) {
      if (!this.#pools.has(scope)) continue;
      if (pool !== undefined) {
        throw new InvalidArgumentError('scopes', 'at most one endpoint pool per batch', [pool, scope]);
      }
      pool = scope;
    }
    return pool;
  }

  /**
   * The scopes a retry-after answer blocks for a batch: through an endpoint pool, only the endpoint that
   * answered (the alternative it was sent through: the others may take the batch at once, and the
   * batch's own scopes stay open for its other endpoints and targets); otherwise its own scopes, or the
   * quota scope when it has none.
   */
  blockScopes(scopes: readonly string[], alternative: number | undefined): string[] {
    const pool = this.poolOf(scopes);
    if (pool !== undefined && alternative !== undefined) {
      const endpoint = this.#pools.get(pool)![alternative];
      if (endpoint !== undefined && endpoint.length > 0) return [...endpoint];
    }
    const own = pool === undefined ? [...scopes] : scopes.filter((s) => s !== pool);
    return own.length > 0 ? own : [this.scope];
  }

  /**
   * The quota's rule now (synchronously on memory and SQLite). Reads made in one synchronous run share one
   * store read (100,000 offers queued in a loop read the quota once per run, not once each): the manager
   * charges its quota only after an await (decisions of a tick are committed together), so no answer
   * changes. A charge made in the same run by code of your own through the limiter shows from the next tick.
   */
  read(now: number): RuleStats | Promise<RuleStats> {
    if (this.#read) return this.#read;
    if (this.#syncRead !== undefined && this.#syncAt === now) return this.#syncRead;
    const stats = this.#limiter.backend.limits.inspect(this.#plan, now);
    if (!(stats instanceof Promise)) {
      if (this.#syncRead === undefined) {
        queueMicrotask(() => {
          this.#syncRead = undefined;
        });
      }
      this.#syncRead = stats[0]!;
      this.#syncAt = now;
      return this.#syncRead;
    }
    // Asynchronous backend: the reads of one tick share one round trip. No answer changes: a charge made
    // in the same tick is sent after the read anyway (decisions are coalesced on the next tick).
    this.#read = stats.then((list) => list[0]!);
    process.nextTick(() => {
      this.#read = undefined;
    });
    return this.#read;
  }

  /**
   * Says the quota was charged in this synchronous run (the offers of a SQLite loop turn each decide before
   * the next one reads): the shared read is dropped, so the next {@link read} sees the charge. Every
   * offer's charge says so (on Redis too): it also drops the loop's read-ahead ({@link prefetch}).
   */
  charged(): void {
    this.#syncRead = undefined;
    this.#ahead = undefined; // a read taken before this charge is out of date
  }

  /**
   * On an asynchronous backend (Redis), reads the quota right behind the decisions just asked for (the
   * store sends the read after them, in order, so it sees their charges) and keeps it for the loop's
   * next pass, which then claims without waiting for a read of its own: one round trip fewer per pass.
   * Nothing on a synchronous backend, whose reads cost no round trip.
   */
  prefetch(now: number): void {
    const limits = this.#limiter.backend.limits;
    if (limits.sync) return;
    // Never throws: a store in fallback answers from memory (a plain array), and a failed read is
    // dropped (the next pass reads again).
    let stats: Promise<RuleStats>;
    try {
      stats = Promise.resolve(limits.inspect(this.#plan, now)).then((list) => list[0]!);
    } catch (error) {
      stats = Promise.reject(error);
    }
    stats.catch(() => {});
    this.#ahead = { at: now, stats };
  }

  /**
   * The read kept by {@link prefetch} (once), when nothing was charged by an offer of this manager since
   * and it is at most `maxAgeMs` old; else undefined (the caller reads). It may lag the store by other
   * processes' charges and by what returned to the window since it was taken: the same kind of lag as
   * any read taken before a claim, and the decision after the claim is what admits.
   */
  takeAhead(now: number, maxAgeMs: number): Promise<RuleStats> | undefined {
    const ahead = this.#ahead;
    this.#ahead = undefined;
    // An offer admitted and not charged yet is not in the read either.
    if (!ahead || this.pending > 0 || now - ahead.at > maxAgeMs || now < ahead.at) return undefined;
    return ahead.stats;
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
    const pool = this.poolOf(scopes);
    const shares: Record<string, number> = {};
    const own: string[] = [this.scope];
    for (const scope of scopes) {
      if (scope === pool) continue;
      own.push(scope);
      shares[scope] = Math.min(size, costs?.[scope] ?? size);
    }
    if (pool === undefined) return { scopes: own, cost: size, costs: shares };
    const share = Math.min(size, costs?.[pool] ?? size);
    const alternatives = this.#pools.get(pool)!.map((alt) => ({ scopes: alt, cost: share }));
    return { scopes: own, cost: size, costs: shares, alternatives };
  }

  /** Gives back what was charged for a batch that could not be recorded. */
  async refund<T>(batch: PreparedBatch<T>, alternative?: number): Promise<void> {
    await this.#limiter.adjust({ scopes: this.scope, delta: -batch.messages.length });
    const pool = this.poolOf(batch.scopes);
    for (const scope of batch.scopes) {
      if (scope !== pool) await this.#limiter.adjust({ scopes: scope, delta: -batch.costs[scope]! });
    }
    if (pool === undefined || alternative === undefined) return;
    for (const scope of this.#pools.get(pool)![alternative] ?? []) {
      await this.#limiter.adjust({ scopes: scope, delta: -batch.costs[pool]! });
    }
  }
}
