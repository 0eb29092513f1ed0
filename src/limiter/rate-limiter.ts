import { MemoryBackend } from '../backends/memory/index.js';
import type { Backend, LimitStore } from '../backends/types.js';
import { type Clock, systemClock } from '../core/clock.js';
import { type Duration, parseDuration } from '../core/duration.js';
import { AbortError, CostExceedsCapacityError, InvalidArgumentError, TimeoutError } from '../core/errors.js';
import type { Cost, Decision, LimitRequest, Rule, RuleStats } from '../core/types.js';
import { chosenPlan } from '../engine/choices.js';
import { inspectPlan, normalizeScopes, type Plan, type PlanItem, stateKey } from '../engine/plan.js';
import { ScopeRules } from '../engine/rules.js';
import { PlanCache } from './plan-cache.js';
import { lineKey, Pools } from './pools.js';

export interface RateLimiterOptions {
  /**
   * Rules per scope pattern: an exact key (`'global'`), a prefix ending in `*` (`'chat:*'`) or `'*'`.
   * @example { global: { limit: 30, window: '1s' }, 'chat:*': { limit: 1, window: '1s' } }
   */
  scopes?: Readonly<Record<string, Rule | readonly Rule[]>>;
  /** Where limit state lives. @default new MemoryBackend() */
  backend?: Backend;
  /** @default systemClock */
  clock?: Clock;
}

export interface AcquireOptions {
  /** Aborts the wait; nothing is charged. */
  signal?: AbortSignal;
  /** Gives up after this long (clock time); rejects with TimeoutError and charges nothing. */
  timeout?: Duration;
}

interface Waiter {
  plan: Plan;
  signal: AbortSignal;
  resolve(decision: Decision): void;
  reject(error: unknown): void;
  done: boolean;
}

/** A `tryAcquire` waiting for the group commit of its tick. */
interface Pending {
  plan: Plan;
  resolve(decision: Decision): void;
  reject(error: unknown): void;
}

interface Group {
  waiters: Waiter[];
  wake: AbortController;
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
  readonly clock: Clock;
  readonly backend: Backend;
  readonly #store: LimitStore;
  readonly #groups = new Map<string, Group>();
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
    this.clock = options.clock ?? systemClock;
    if (typeof this.clock?.now !== 'function' || typeof this.clock.sleep !== 'function') {
      throw new InvalidArgumentError('clock', 'an object with now() and sleep(ms, signal)', options.clock);
    }
    this.backend = options.backend ?? new MemoryBackend();
    if (!this.backend?.limits)
      throw new InvalidArgumentError('backend', 'a ratekeeper Backend', options.backend);
    this.#store = this.backend.limits;
  }

  /** The plan of a request: from the plan cache, pooled when it has alternatives (see {@link Pools}). */
  #plan(request: LimitRequest): Plan {
    const plan = this.#plans.plan(request);
    return request.alternatives === undefined ? plan : this.#pools.plan(plan, request);
  }

  /** Sets or replaces the rules of a scope pattern at run time. Existing usage is kept per rule name. */
  define(pattern: string, rules: Rule | readonly Rule[]): void {
    this.rules.define(pattern, rules);
  }

  /**
   * Decides now and charges if allowed. Never waits for quota. On SQLite, calls made in the same tick are
   * decided in one transaction (in call order, each seeing the charges of those before it): concurrent
   * callers share a commit, which is most of a decision's cost there.
   */
  async tryAcquire(request: LimitRequest): Promise<Decision> {
    const plan = this.#plan(request);
    if (this.#store.groupCommit) return this.#decideWithTick(plan);
    return this.#store.decide(plan, this.clock.now());
  }

  #decideWithTick(plan: Plan): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      if (this.#pending.push({ plan, resolve, reject }) === 1) queueMicrotask(() => this.#commitTick());
    });
  }

  /** Decides the calls of a tick in one store call (one transaction); a failure fails them all. */
  async #commitTick(): Promise<void> {
    const batch = this.#pending;
    this.#pending = [];
    try {
      const now = this.clock.now();
      if (batch.length === 1) {
        batch[0]!.resolve(await this.#store.decide(batch[0]!.plan, now));
        return;
      }
      const decisions = await this.#store.decideMany(
        batch.map((p) => p.plan),
        now,
      );
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(decisions[i]!);
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
    return this.#store.decide(this.#plan(request), this.clock.now()) as Decision;
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
    const groupKey = lineKey(plan);
    if (!this.#groups.has(groupKey)) {
      // Hold the line while deciding, so that a request made meanwhile queues behind this one (FIFO).
      const line: Group = { waiters: [], wake: new AbortController() };
      this.#groups.set(groupKey, line);
      let decision: Decision;
      try {
        decision = await this.#store.decide(plan, this.clock.now());
      } catch (error) {
        this.#releaseLine(groupKey, line);
        throw error;
      }
      if (decision.allowed || decision.retryAfterMs === Number.POSITIVE_INFINITY) {
        this.#releaseLine(groupKey, line);
        if (decision.allowed) return decision;
        throw capacityError(decision, plan);
      }
      return this.#wait(groupKey, plan, options.signal, timeout, line);
    }
    return this.#wait(groupKey, plan, options.signal, timeout);
  }

  /** Gives up a line held by `acquire`: the waiters that queued in it meanwhile are served; else it is dropped. */
  #releaseLine(groupKey: string, line: Group): void {
    if (this.#groups.get(groupKey) !== line) return;
    if (line.waiters.length > 0) void this.#serve(groupKey, line);
    else this.#groups.delete(groupKey);
  }

  #wait(
    groupKey: string,
    plan: Plan,
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    line?: Group,
  ): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      if (signal?.aborted) {
        // Aborted while the first decision was made: nothing was charged.
        if (line) this.#releaseLine(groupKey, line);
        return reject(abortError(signal));
      }
      const controller = new AbortController();
      const cleanup = () => {
        controller.abort();
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: Waiter = {
        plan,
        signal: controller.signal,
        done: false,
        resolve: (decision) => {
          waiter.done = true;
          cleanup();
          resolve(decision);
        },
        reject: (error) => {
          waiter.done = true;
          cleanup();
          reject(error);
        },
      };
      const onAbort = () => this.#abandon(groupKey, waiter, abortError(signal!));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeout !== undefined) {
        this.clock.sleep(timeout, controller.signal).then(
          () => this.#abandon(groupKey, waiter, new TimeoutError(timeout)),
          () => {},
        );
      }
      if (line) {
        // The line this request held while deciding: it goes first.
        line.waiters.unshift(waiter);
        void this.#serve(groupKey, line);
        return;
      }
      let group = this.#groups.get(groupKey);
      if (group) {
        group.waiters.push(waiter);
      } else {
        group = { waiters: [waiter], wake: new AbortController() };
        this.#groups.set(groupKey, group);
        void this.#serve(groupKey, group);
      }
    });
  }

  #abandon(groupKey: string, waiter: Waiter, error: Error): void {
    if (waiter.done) return;
    const group = this.#groups.get(groupKey);
    if (group) {
      const index = group.waiters.indexOf(waiter);
      if (index >= 0) group.waiters.splice(index, 1);
    }
    waiter.reject(error);
  }

  /** Serves a group's waiters in order: only the head waits on the clock; the rest queue behind it. */
  async #serve(groupKey: string, group: Group): Promise<void> {
    try {
      while (group.waiters.length > 0) {
        const head = group.waiters[0]!;
        let decision: Decision;
        try {
          decision = await this.#store.decide(head.plan, this.clock.now());
        } catch (error) {
          if (group.waiters[0] === head) group.waiters.shift();
          head.reject(error);
          continue;
        }
        if (head.done) {
          // Abandoned while deciding: give back what was charged for it.
          if (decision.allowed) await this.#refund(chosenPlan(head.plan, decision));
          continue;
        }
        if (decision.allowed) {
          group.waiters.shift();
          head.resolve(decision);
          continue;
        }
        if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
          group.waiters.shift();
          head.reject(capacityError(decision, head.plan));
          continue;
        }
        const wake = group.wake.signal;
        await this.clock.sleep(decision.retryAfterMs, AbortSignal.any([head.signal, wake])).catch(() => {});
        if (group.wake.signal.aborted) group.wake = new AbortController();
      }
    } finally {
      this.#groups.delete(groupKey);
    }
  }

  async #refund(plan: Plan): Promise<void> {
    await this.#store.adjust(
      plan.items.map((item) => ({ ...item, cost: -item.cost })),
      this.clock.now(),
    );
  }

  /** Wakes every waiter to re-check now (after a refund or reset made room). */
  #wakeAll(): void {
    for (const group of this.#groups.values()) group.wake.abort();
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
   */
  async adjust(request: { scopes: string | readonly string[]; delta: Cost }): Promise<void> {
    const scopes = normalizeScopes(request.scopes);
    const items: PlanItem[] = [];
    const units =
      typeof request.delta === 'number'
        ? { requests: request.delta }
        : (request.delta as Record<string, number>);
    if (units === null || typeof units !== 'object') {
      throw new InvalidArgumentError('delta', 'a number or an object of unit → amount', request.delta);
    }
    for (const [unit, value] of Object.entries(units)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new InvalidArgumentError(`delta.${unit}`, 'a finite number', value);
      }
    }
    for (const scope of scopes) {
      for (const rule of this.rules.resolve(scope)) {
        const delta = units[rule.unit];
        if (delta) items.push({ scope, key: stateKey(scope, rule.name), rule, cost: delta });
      }
    }
    if (items.length === 0) return;
    await this.#store.adjust(items, this.clock.now());
    if (items.some((item) => item.cost < 0)) this.#wakeAll();
  }

  /** Usage of every rule of the given scopes. */
  async stats(scopes: string | readonly string[]): Promise<RuleStats[]> {
    return this.#store.inspect(inspectPlan(normalizeScopes(scopes), this.rules), this.clock.now());
  }

  /** Forgets the usage and blocks of one scope, or of all. */
  async reset(scope?: string): Promise<void> {
    if (scope !== undefined) normalizeScopes(scope);
    await this.#store.reset(scope);
    this.#wakeAll();
  }
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error && signal.reason.name !== 'AbortError'
    ? new AbortError(signal.reason.message, { cause: signal.reason })
    : new AbortError();
}

function capacityError(decision: Decision, plan: Plan): CostExceedsCapacityError {
  const blocked = decision.blockedBy;
  const item = chosenPlan(plan, decision).items.find(
    (i) => i.scope === blocked?.scope && i.rule.name === blocked?.rule,
  );
  return new CostExceedsCapacityError(
    blocked?.scope ?? '?',
    blocked?.rule ?? '?',
    item?.cost ?? Number.NaN,
    item?.rule.capacity ?? decision.limit,
  );
}
