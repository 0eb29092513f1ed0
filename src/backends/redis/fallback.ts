import type { CompiledRule, Decision, RuleStats } from '../../core/types.js';
import type { Plan, PlanItem } from '../../engine/plan.js';
import { MemoryLimitStore } from '../memory/limit-store.js';
import type { LimitStore } from '../types.js';
import { RedisUnavailableError } from './errors.js';

/** Where decisions are made right now, and how often that changed. */
export interface RedisHealth {
  /** `'redis'`: shared limits; `'fallback'`: this process's memory, with its share of each limit. */
  mode: 'redis' | 'fallback';
  /** Times Redis became unreachable and decisions moved to memory. */
  fallbacks: number;
  /** Times Redis answered again and decisions moved back. */
  recoveries: number;
  /** Why the last fallback happened (null before any). */
  lastError: string | null;
}

export interface FallbackSettings {
  share: number;
  probeIntervalMs: number;
  /** Resolves when Redis answers (rejects otherwise). */
  probe(): Promise<unknown>;
  logger: { warn(message: string): void };
}

/**
 * The limits of a RedisBackend: Redis while it answers; when it does not (refused, closed, timed out),
 * an in-memory store holding `share` of every limit for this process, until a probe finds Redis again.
 * Usage counted in memory is not copied to Redis: each side starts from what it knew.
 */
export class FallbackLimitStore implements LimitStore {
  readonly sync = false;
  readonly #redis: LimitStore;
  readonly #memory = new MemoryLimitStore();
  readonly #settings: FallbackSettings;
  readonly #rules = new WeakMap<CompiledRule, CompiledRule>();
  readonly #plans = new WeakMap<Plan, Plan>();
  readonly #health: RedisHealth = { mode: 'redis', fallbacks: 0, recoveries: 0, lastError: null };
  #timer: NodeJS.Timeout | undefined;
  #probing = false;
  #closed = false;

  constructor(redis: LimitStore, settings: FallbackSettings) {
    this.#redis = redis;
    this.#settings = settings;
  }

  get health(): RedisHealth {
    return { ...this.#health };
  }

  decide(plan: Plan, now: number): Promise<Decision> | Decision {
    if (this.#health.mode === 'fallback') return this.#memory.decide(this.#scalePlan(plan), now);
    return this.#guard(this.#redis.decide(plan, now), () => this.#memory.decide(this.#scalePlan(plan), now));
  }

  decideMany(plans: readonly Plan[], now: number): Promise<Decision[]> | Decision[] {
    const local = () =>
      this.#memory.decideMany(
        plans.map((plan) => this.#scalePlan(plan)),
        now,
      );
    if (this.#health.mode === 'fallback') return local();
    return this.#guard(this.#redis.decideMany(plans, now), local);
  }

  peek(plan: Plan, now: number): Promise<Decision> | Decision {
    if (this.#health.mode === 'fallback') return this.#memory.peek(this.#scalePlan(plan), now);
    return this.#guard(this.#redis.peek(plan, now), () => this.#memory.peek(this.#scalePlan(plan), now));
  }

  adjust(items: readonly PlanItem[], now: number): Promise<void> | void {
    const local = () => this.#memory.adjust(items.map(this.#scaleItem), now);
    if (this.#health.mode === 'fallback') return local();
    return this.#guard(this.#redis.adjust(items, now), local);
  }

  block(scopes: readonly string[], until: number): Promise<void> | void {
    // Blocks are cheap and matter most during trouble: keep them in memory too, for a later outage.
    this.#memory.block(scopes, until);
    if (this.#health.mode === 'fallback') return;
    return this.#guard(this.#redis.block(scopes, until), () => {});
  }

  inspect(plan: Plan, now: number): Promise<RuleStats[]> | RuleStats[] {
    if (this.#health.mode === 'fallback') return this.#memory.inspect(this.#scalePlan(plan), now);
    return this.#guard(this.#redis.inspect(plan, now), () =>
      this.#memory.inspect(this.#scalePlan(plan), now),
    );
  }

  reset(scope?: string): Promise<void> | void {
    this.#memory.reset(scope);
    if (this.#health.mode === 'fallback') return;
    return this.#guard(this.#redis.reset(scope), () => {});
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** `work`, or `local()` once Redis is found unreachable (one promise per call: this is the hot path). */
  #guard<T>(work: Promise<T> | T, local: () => T): Promise<T> {
    return Promise.resolve(work).then(undefined, (error: unknown) => {
      if (!(error instanceof RedisUnavailableError)) throw error;
      this.#fallBack(error);
      return local();
    });
  }

  #fallBack(error: Error): void {
    if (this.#health.mode === 'fallback') return;
    this.#health.mode = 'fallback';
    this.#health.fallbacks++;
    this.#health.lastError = error.message;
    this.#settings.logger.warn(
      `ratekeeper: ${error.message}; deciding from memory with ${this.#settings.share} of each limit until Redis answers again`,
    );
    if (this.#closed) return;
    this.#timer = setInterval(() => void this.#probe(), this.#settings.probeIntervalMs);
    this.#timer.unref();
  }

  async #probe(): Promise<void> {
    if (this.#probing || this.#health.mode === 'redis') return;
    this.#probing = true;
    try {
      await this.#settings.probe();
      if (this.#closed) return;
      clearInterval(this.#timer);
      this.#timer = undefined;
      this.#health.mode = 'redis';
      this.#health.recoveries++;
      this.#settings.logger.warn('ratekeeper: Redis answers again; limits are shared again');
    } catch {
      // Still down: the next tick tries again.
    } finally {
      this.#probing = false;
    }
  }

  #scalePlan(plan: Plan): Plan {
    let scaled = this.#plans.get(plan);
    if (!scaled) {
      const items = plan.items.map(this.#scaleItem);
      const choices = plan.choices?.map((c) => ({
        alternative: c.alternative,
        plan: this.#scalePlan(c.plan),
      }));
      scaled = choices ? { scopes: plan.scopes, items, choices } : { scopes: plan.scopes, items };
      this.#plans.set(plan, scaled);
    }
    return scaled;
  }

  readonly #scaleItem = (item: PlanItem): PlanItem => ({ ...item, rule: this.#scaleRule(item.rule) });

  /** The rule with `share` of its limit (and burst), rounded down but at least 1 unit when it had one. */
  #scaleRule(rule: CompiledRule): CompiledRule {
    let scaled = this.#rules.get(rule);
    if (!scaled) {
      const share = this.#settings.share;
      const part = (x: number) => (x >= 1 ? Math.max(1, Math.floor(x * share)) : x * share);
      const limit = part(rule.limit);
      scaled =
        rule.algorithm === 'token-bucket'
          ? { ...rule, limit, capacity: part(rule.capacity), step: rule.windowMs / limit }
          : { ...rule, limit, capacity: limit };
      this.#rules.set(rule, Object.freeze(scaled));
    }
    return scaled;
  }
}
