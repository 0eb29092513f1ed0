import { MemoryBackend } from '../backends/memory/index.js';
import { checkLimitStore } from '../backends/shape.js';
import type { Backend, LimitStore } from '../backends/types.js';
import { type Clock, type ClockLike, toClock } from '../core/clock.js';
import { type Duration, parseDuration } from '../core/duration.js';
import { CostExceedsCapacityError, InvalidArgumentError } from '../core/errors.js';
import type { Cost, Decision, LimitRequest, Rule, RuleStats } from '../core/types.js';
import { inspectPlan, normalizeScopes, type Plan, type PlanItem } from '../engine/plan.js';
import { ScopeRules } from '../engine/rules.js';
import { PlanCache } from './plan-cache.js';
import { Pools } from './pools.js';
import { abortError, WaitLines } from './wait-lines.js';

export interface RateLimiterOptions {
  /**
   * Rules per scope pattern: an exact key (`'global'`), a prefix ending in `*` (`'chat:*'`) or `'*'`.
   * @example { global: { limit: 30, window: '1s' }, 'chat:*': { limit: 1, window: '1s' } }
   */
  scopes?: Readonly<Record<string, Rule | readonly Rule[]>>;
  /** Where limit state lives. @default new MemoryBackend() */
  backend?: Backend;
  /** `{ now() }` is enough: without `sleep`, waits use real timers. @default systemClock */
  clock?: ClockLike;
}

export interface AcquireOptions {
  /** Aborts the wait; nothing is charged. */
  signal?: AbortSignal;
  /** Gives up after this long (clock time); rejects with TimeoutError and charges nothing. */
  timeout?: Duration;
}

/** A `tryAcquire` waiting for the group commit of its tick. */
interface Pending {
  plan: Plan;
  resolve(decision: Decision): void;
  reject(error: unknown): void;
}

/**
 * Admits requests across scopes and rules, atomically: a request is charged on every rule of every scope
 * it passes through, or on none.
 * @example
 * const limiter = new RateLimiter({ scopes: { global: { limit: 30, window: '1s' }, 'chat:*': { limit: 1, window: '1s' } } });
 * const d = await limiter.tryAcquire({ scopes: ['global', 'chat:42'] });
 * if (!d.allowed) console.log(`retry in ${d.retryAfterMs}ms, blocked by ${d.blockedBy?.scope}`);
 */
export class RateLimiter {
  readonly rules: ScopeRules;
  /** The clock in use: the one given (completed with real-timer sleeps if it has only `now()`). */
  readonly clock: Clock;
  readonly backend: Backend;
  readonly #store: LimitStore;
  readonly #lines: WaitLines;
  readonly #plans: PlanCache;
  readonly #pools: Pools;
  /** Calls of this tick waiting for one group commit (stores with `groupCommit`). */
  #pending: Pending[] = [];

  constructor(options: RateLimiterOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options', 'an options object', options);
    }
    this.rules = new ScopeRules(options.scopes ?? {});
    this.#plans = new PlanCache(this.rules);
    this.#pools = new Pools(this.#plans);
    this.clock = toClock(options.clock);
    this.backend = options.backend ?? new MemoryBackend();
    if (!this.backend?.limits)
      throw new InvalidArgumentError('backend', 'a ratekeeper Backend', options.backend);
    this.#store = checkLimitStore(this.backend.limits, 'backend.limits');
    this.#lines = new WaitLines(this.#store, this.clock);
  }

  /** The plan of a request: from the plan cache, pooled when it has alternatives (see {@link Pools}). */
  #plan(request: LimitRequest): Plan {
    const plan = this.#plans.plan(request);
    return request.alternatives === undefined ? plan : this.#pools.plan(plan, request);
  }

  /**
   * Sets or replaces the rules of a scope pattern at run time. Existing usage is kept per rule name and
   * algorithm: a rule that keeps its name (a new `limit` or `burst`) keeps what was counted; a rule whose
   * `algorithm` changes under the same name starts over, as if never used (the other algorithm's state is
   * never read as its own). The same holds for a process started with an edited config on a SQLite file or
   * Redis prefix that another config wrote, on every backend.
   * @example
   * limiter.define('chat:*', { limit: 2, window: '1s' });                             // usage of 'requests/1000ms' kept
   * limiter.define('chat:*', { limit: 2, window: '1s', algorithm: 'token-bucket' }); // same name: starts over
   */
  define(pattern: string, rules: Rule | readonly Rule[]): void {
    this.rules.define(pattern, rules);
  }

  /**
   * Decides now and charges if allowed. Never waits for quota. On SQLite, calls made in the same tick are
   * decided in one transaction (in call order, each seeing the charges of those before it): concurrent
   * callers share a commit, which is most of a decision's cost there.
   */
  tryAcquire(request: LimitRequest): Promise<Decision> {
    // Not `async`: an async function costs more than the decision on the memory store. Errors still reject.
    try {
      const store = this.#store;
      if (store.decideDefault !== undefined && isDefault(request)) {
        return Promise.resolve(store.decideDefault(request.scopes, this.rules, this.clock.now()));
      }
      const plan = this.#plan(request);
      if (store.groupCommit) return this.#decideWithTick(plan);
      return Promise.resolve(store.decide(plan, this.clock.now()));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #decideWithTick(plan: Plan): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      if (this.#pending.push({ plan, resolve, reject }) === 1) queueMicrotask(() => this.#commitTick());
    });
  }

  /** Decides the calls of a tick in one store call (one transaction); a failure fails them all. */
  #commitTick(): void {
    const batch = this.#pending;
    this.#pending = [];
    try {
      const now = this.clock.now();
      // A synchronous store answers in this microtask: no await between the commit and the callers.
      const store = this.#store;
      if (batch.length === 1) {
        const p = batch[0]!;
        const decided = store.decide(p.plan, now);
        if (store.sync) p.resolve(decided as Decision);
        else Promise.resolve(decided).then(p.resolve, p.reject);
        return;
      }
      const decided = store.decideMany(
        batch.map((p) => p.plan),
        now,
      );
      const answer = (decisions: Decision[]) => {
        if (!Array.isArray(decisions) || decisions.length !== batch.length) {
          throw new TypeError(`decideMany answered ${typeof decisions}, not ${batch.length} decisions`);
        }
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(decisions[i]!);
      };
      const fail = (error: unknown) => {
        for (const p of batch) p.reject(error);
      };
      if (store.sync) answer(decided as Decision[]);
      // A store answering something else than decisions fails its callers: none is left waiting.
      else Promise.resolve(decided).then(answer).catch(fail);
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }

  /**
   * Decides several requests in one store round trip (one transaction, one script), in order: each is
   * admitted or refused on its own, seeing the charges of those before it.
   */
  async tryAcquireMany(requests: readonly LimitRequest[]): Promise<Decision[]> {
    if (!Array.isArray(requests))
      throw new InvalidArgumentError('requests', 'an array of requests', requests);
    if (requests.length === 0) return [];
    return this.#store.decideMany(
      requests.map((r) => this.#plan(r)),
      this.clock.now(),
    );
  }

  /**
   * The synchronous form of {@link tryAcquire}, for backends that answer synchronously (memory, SQLite).
   * @throws InvalidArgumentError on an asynchronous backend (Redis).
   */
  tryAcquireSync(request: LimitRequest): Decision {
    if (!this.#store.sync) {
      throw new InvalidArgumentError(
        'backend',
        'a synchronous backend (memory or SQLite) for tryAcquireSync',
        this.backend.kind,
      );
    }
    const store = this.#store;
    if (store.decideDefault !== undefined && isDefault(request)) {
      return store.decideDefault(request.scopes, this.rules, this.clock.now());
    }
    return store.decide(this.#plan(request), this.clock.now()) as Decision;
  }

  /** What `tryAcquire` would answer now, without charging. */
  async peek(request: LimitRequest): Promise<Decision> {
    return this.#store.peek(this.#plan(request), this.clock.now());
  }

  /**
   * Waits until the request is admitted, then charges it. Sleeps exactly until the computed time (no
   * polling); waiters on the same scopes are served first come, first served.
   * @throws CostExceedsCapacityError at once when the cost can never fit.
   * @throws AbortError / TimeoutError when aborted or out of time; nothing is charged.
   */
  async acquire(request: LimitRequest, options: AcquireOptions = {}): Promise<Decision> {
    const plan = this.#plan(request);
    const timeout = options.timeout === undefined ? undefined : parseDuration(options.timeout, 'timeout');
    if (options.signal?.aborted) throw abortError(options.signal);
    // Never queue what can never fit, even behind other waiters (a pool: when no alternative ever can).
    const tooBig = (plan.choices?.map((c) => c.plan) ?? [plan]).map((p) =>
      p.items.find((item) => item.cost > item.rule.capacity),
    );
    if (tooBig.every((item) => item !== undefined)) {
      const item = tooBig[0]!;
      throw new CostExceedsCapacityError(item.scope, item.rule.name, item.cost, item.rule.capacity);
    }
    return this.#lines.acquire(plan, options.signal, timeout);
  }

  /**
   * {@link acquire} when it needs no wait, without a promise: on a synchronous backend (memory, SQLite),
   * admits and charges the request now if nobody waits before it on its scopes and it fits; else returns
   * `undefined` and charges nothing (call `acquire`, which waits, or refuses what never fits).
   */
  acquireNow(request: LimitRequest): Decision | undefined {
    return this.#store.sync ? this.#lines.admitNow(this.#plan(request)) : undefined;
  }

  /**
   * Blocks scopes for a while: every process sharing the backend refuses them until then. Use it when a
   * receiver answers 429 / Retry-After. A block only ever extends an existing one.
   */
  async block(scopes: string | readonly string[], duration: Duration): Promise<void> {
    const list = normalizeScopes(scopes);
    const ms = parseDuration(duration, 'duration');
    await this.#store.block(list, this.clock.now() + ms);
  }

  /**
   * Corrects an earlier charge after the fact: `delta` per unit, negative to give back (an estimate of 1,000
   * tokens that turned out to be 812 → `{ tokens: -188 }`). Never refused; usage past the limit is recorded.
   * `at`: the instant (ms on this limiter's clock) of the charge being corrected, e.g. when a reservation was
   * admitted: the correction is attributed to it, so a sliding window gives back (or adds) usage in the
   * sub-window that charge is in, not in the newest one; a fixed window ignores a correction of an ended
   * window. Default: now.
   */
  adjust(request: { scopes: string | readonly string[]; delta: Cost; at?: number }): Promise<void> {
    // Not `async` (like tryAcquire): on a synchronous store the correction is made before this returns.
    try {
      return this.#adjust(request) ?? DONE;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #adjust(request: {
    scopes: string | readonly string[];
    delta: Cost;
    at?: number;
  }): Promise<void> | undefined {
    // The scopes' rule items (resolved rules, state keys), cached like the plans of decisions.
    const template =
      this.#plans.template(request.scopes) ?? inspectPlan(normalizeScopes(request.scopes), this.rules);
    const at = request.at;
    if (at !== undefined && (typeof at !== 'number' || !Number.isFinite(at))) {
      throw new InvalidArgumentError('at', 'a time in ms', at);
    }
    const items: PlanItem[] = [];
    const units =
      typeof request.delta === 'number'
        ? { requests: request.delta }
        : (request.delta as Record<string, number>);
    if (units === null || typeof units !== 'object') {
      throw new InvalidArgumentError('delta', 'a number or an object of unit → amount', request.delta);
    }
    for (const unit of Object.keys(units)) {
      const value = units[unit];
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new InvalidArgumentError(`delta.${unit}`, 'a finite number', value);
      }
    }
    let refund = false;
    for (const { scope, key, rule } of template.items) {
      const delta = units[rule.unit];
      if (!delta) continue;
      if (delta < 0) refund = true;
      items.push(
        at === undefined ? { scope, key, rule, cost: delta } : { scope, key, rule, cost: delta, at },
      );
    }
    if (items.length === 0) return undefined;
    const done = this.#store.adjust(items, this.clock.now());
    if (done === undefined) {
      if (refund) this.#lines.wakeAll();
      return undefined;
    }
    return Promise.resolve(done).then(() => {
      if (refund) this.#lines.wakeAll();
    });
  }

  /** Usage of every rule of the given scopes. */
  async stats(scopes: string | readonly string[]): Promise<RuleStats[]> {
    const plan = this.#plans.template(scopes) ?? inspectPlan(normalizeScopes(scopes), this.rules);
    return this.#store.inspect(plan, this.clock.now());
  }

  /** Forgets the usage and blocks of one scope, or of all. */
  async reset(scope?: string): Promise<void> {
    if (scope !== undefined) normalizeScopes(scope);
    await this.#store.reset(scope);
    this.#lines.wakeAll();
  }
}

/** What a correction made synchronously returns (nothing to wait for). */
const DONE: Promise<void> = Promise.resolve();

/**
 * Whether a request has the default cost (one request, no per-scope costs, no pool) and valid, distinct
 * scopes: what `LimitStore.decideDefault` takes. Anything else (including everything invalid, which the
 * plan's validation then reports) takes the plan.
 */
function isDefault(request: LimitRequest): boolean {
  if (request === null || typeof request !== 'object') return false;
  if (request.cost !== undefined || request.costs !== undefined || request.alternatives !== undefined) {
    return false;
  }
  const scopes = request.scopes;
  if (typeof scopes === 'string') return scopes.length > 0;
  if (!Array.isArray(scopes) || scopes.length === 0 || scopes.length > 16) return false;
  for (let i = 0; i < scopes.length; i++) {
    const scope: unknown = scopes[i];
    if (typeof scope !== 'string' || scope.length === 0) return false;
    for (let j = 0; j < i; j++) if (scopes[j] === scope) return false;
  }
  return true;
}
