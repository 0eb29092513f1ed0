// Past 400 lines on purpose: go-ratelimit's verbs on one object; quotas, reservations, receiver signals and
// token counting are in their own files beside it.
import type { Backend } from '../../backends/types.js';
import type { Clock } from '../../core/clock.js';
import { type Duration, parsePositiveDuration } from '../../core/duration.js';
import {
  AbortError,
  CostExceedsCapacityError,
  InvalidArgumentError,
  TimeoutError,
} from '../../core/errors.js';
import type { Decision, Rule, RuleStats } from '../../core/types.js';
import { type PlanItem, stateKey } from '../../engine/plan.js';
import type { AcquireOptions } from '../../limiter/rate-limiter.js';
import { RateLimiter } from '../../limiter/rate-limiter.js';
import {
  checkModel,
  checkProvider,
  checkQuota,
  defaultProfiles,
  isUnlimited,
  type ModelQuota,
  type Provider,
} from './quotas.js';
import { checkCount, Reservation, type ReservationHost } from './reservation.js';

/** Why {@link ModelLimiter.decide} answered as it did. */
export type ModelDecisionCode =
  | 'ok'
  | 'unknown_model'
  | 'unlimited'
  | 'rpm_exceeded'
  | 'tpm_exceeded'
  | 'rpd_exceeded'
  | 'invalid_tokens'
  /** The model is blocked: a receiver answered 429 (`ModelLimiter.block`). An addition to go-ratelimit's codes. */
  | 'blocked';

/** Usage and limits of one model now; `max*` 0 = unlimited. */
export interface ModelStats {
  rpm: number;
  maxRpm: number;
  tpm: number;
  maxTpm: number;
  rpd: number;
  maxRpd: number;
}

export interface ModelDecision {
  allowed: boolean;
  code: ModelDecisionCode;
  /** For people: what was checked against what. */
  reason: string;
  /** 0 when allowed; else the exact wait until this request would fit (Infinity: never, or invalid). */
  retryAfterMs: number;
  stats: ModelStats;
}

export interface ModelLimiterOptions {
  /** Providers whose default quotas load first. With none and no `quotas`: `['gemini']`. */
  providers?: readonly Provider[];
  /** Quotas per model, on top of (overriding) the providers' defaults. */
  quotas?: Readonly<Record<string, ModelQuota>>;
  /** Where usage lives (memory, SQLite, Redis). Ignored when `limiter` is given. @default new MemoryBackend() */
  backend?: Backend;
  /** Ignored when `limiter` is given. @default systemClock */
  clock?: Clock;
  /** An existing RateLimiter to share (its backend and clock); the model patterns are defined on it. */
  limiter?: RateLimiter;
  /** Scope key prefix of the models: scope `${prefix}${model}`. @default 'llm:' */
  prefix?: string;
  /**
   * The windows of the RPM/TPM and RPD limits. Set the minute a little longer than the receiver's to absorb
   * the time between admission here and arrival there when that time is not small against the window.
   * @default { minute: '1m', day: '1d' }
   */
  windows?: { minute?: Duration; day?: Duration };
}

/** Options of {@link ModelLimiter.waitForCapacity} and {@link ModelLimiter.reserve}. */
export type WaitOptions = AcquireOptions;

/** A rule limit that never refuses: the dimension is unlimited but its usage is still counted. */
const UNLIMITED = 2 ** 50;
const NAMES = { rpm: 'rpm', tpm: 'tpm', rpd: 'rpd' } as const;
/** Models whose scope key is kept (more: the cache starts over). */
const SCOPE_CACHE = 10_000;

/**
 * go-ratelimit's per-model limiter (RPM / TPM / RPD) on ratekeeper's engine: a {@link RateLimiter} with
 * three rules per model scope, over any backend, so processes sharing the backend share the quota.
 *
 * - `canSend` / `decide` look without charging; `recordUsage` records a call made (never refused).
 * - `reserve` admits and charges a request and its token estimate atomically, waiting exactly until it fits;
 *   the returned {@link Reservation} is settled with the real usage afterwards: concurrent callers never
 *   overshoot TPM because of estimates not yet recorded.
 * - Requests are refused at the limit (`rpm >= maxRpm`, `rpd >= maxRpd`), tokens only above it
 *   (`tpm + est > maxTpm`). RPM and TPM are sliding minutes; RPD a day from its first request (go-ratelimit). 0 = unlimited.
 * @example
 * const ml = new ModelLimiter({ providers: ['openai'], backend });
 * const r = await ml.reserve('gpt-4o', 900);
 * const res = await openai.chat.completions.create(body);
 * await r.commit(res.usage.prompt_tokens, res.usage.completion_tokens);
 */
export class ModelLimiter {
  readonly limiter: RateLimiter;
  readonly prefix: string;
  readonly #minuteMs: number;
  readonly #dayMs: number;
  readonly #configured = new Map<string, Readonly<ModelQuota>>();
  /** Limits the receivers reported, lower than configured (see {@link tighten}). */
  readonly #learned = new Map<string, Partial<ModelQuota>>();
  readonly #seen = new Set<string>();
  /** Scope keys by model (see {@link scope}). */
  readonly #scopes = new Map<string, string>();
  /** The quota in force per model, computed once per change (see {@link #quotaOf}). */
  readonly #inForce = new Map<string, Readonly<ModelQuota>>();
  #wake = new AbortController();
  /** What every reservation of this limiter corrects through. */
  readonly #host: ReservationHost = {
    correct: (model, delta, at) => this.limiter.adjust({ scopes: this.scope(model), delta, at }),
  };

  constructor(options: ModelLimiterOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options', 'an options object', options);
    }
    this.prefix = options.prefix ?? 'llm:';
    if (typeof this.prefix !== 'string' || this.prefix.includes('*')) {
      throw new InvalidArgumentError('prefix', "a string without '*'", options.prefix);
    }
    this.#minuteMs = parsePositiveDuration(options.windows?.minute ?? '1m', 'windows.minute');
    this.#dayMs = parsePositiveDuration(options.windows?.day ?? '1d', 'windows.day');
    if (options.limiter !== undefined && !(options.limiter instanceof RateLimiter)) {
      throw new InvalidArgumentError('limiter', 'a RateLimiter', options.limiter);
    }
    this.limiter = options.limiter ?? new RateLimiter({ backend: options.backend, clock: options.clock });
    const providers = options.providers ?? [];
    if (!Array.isArray(providers)) throw new InvalidArgumentError('providers', 'an array', providers);
    const quotas = options.quotas ?? {};
    if (quotas === null || typeof quotas !== 'object') {
      throw new InvalidArgumentError('quotas', 'an object of model → quota', quotas);
    }
    // Usage of models without a quota is still counted (stats show it), never refused.
    this.limiter.define(`${this.prefix}*`, this.#rules({ maxRpm: 0, maxTpm: 0, maxRpd: 0 }));
    const initial = providers.length === 0 && Object.keys(quotas).length === 0 ? ['gemini'] : providers;
    initial.forEach((p, i) => {
      this.addProvider(checkProvider(p, `providers[${i}]`));
    });
    for (const [model, quota] of Object.entries(quotas)) this.setQuota(model, quota);
  }

  /** The clock of the underlying limiter. */
  get clock(): Clock {
    return this.limiter.clock;
  }

  /** The limiter scope key of a model. */
  scope(model: string): string {
    // The same string each time (its hash computed once): the limiter's plan cache looks it up on every call.
    let scope = this.#scopes.get(model);
    if (scope === undefined) {
      scope = `${this.prefix}${checkModel(model)}`;
      if (this.#scopes.size >= SCOPE_CACHE) this.#scopes.clear();
      this.#scopes.set(model, scope);
    }
    return scope;
  }

  /** Sets (replaces) a model's quota at run time; its usage is kept. Waiters re-check at once. */
  setQuota(model: string, quota: ModelQuota): void {
    checkModel(model);
    if (model.endsWith('*')) throw new InvalidArgumentError('model', "a name not ending in '*'", model);
    this.#configured.set(model, checkQuota(quota, `quotas[${model}]`));
    this.#apply(model);
  }

  /** Loads a provider's default quotas (overriding those models' current quotas), as go-ratelimit does. */
  addProvider(provider: Provider): void {
    const models = defaultProfiles()[checkProvider(provider)];
    for (const [model, quota] of Object.entries(models)) this.setQuota(model, quota);
  }

  /**
   * Lowers a model's limits to what a receiver reported (`limitedFetch` calls it from rate-limit headers):
   * each given dimension becomes the smaller of the configured and the reported value. Kept until
   * `reset(model)`. A model without a quota gets one. Returns true when the quota in force changed.
   */
  tighten(model: string, limits: Partial<ModelQuota>): boolean {
    checkModel(model);
    const learned = { ...this.#learned.get(model) };
    const quota = this.#quotaOf(model);
    let changed = false;
    for (const key of ['maxRpm', 'maxTpm', 'maxRpd'] as const) {
      const value = limits[key];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
        throw new InvalidArgumentError(`limits.${key}`, 'an integer >= 1', value);
      }
      const current = quota[key];
      if (current !== 0 && current <= value) continue;
      learned[key] = value;
      changed = true;
    }
    if (!changed) return false;
    this.#learned.set(model, learned);
    this.#apply(model);
    return true;
  }

  /**
   * Raises the local usage of a model to at least what a receiver reported in use (`limit - remaining` from
   * its headers), so callers here stop before the receiver refuses: usage from elsewhere (another key holder,
   * the receiver's own accounting) is counted as if made now. Never lowers anything.
   */
  async observeUsage(model: string, used: { rpm?: number; tpm?: number }): Promise<void> {
    const scope = this.scope(model);
    // Most answers report no usage (no `remaining`): nothing to compare, no read of the stats.
    if (used.rpm === undefined && used.tpm === undefined) return;
    const stats = await this.stats(model);
    const items: PlanItem[] = [];
    for (const [name, value, current] of [
      [NAMES.rpm, used.rpm, stats.rpm],
      [NAMES.tpm, used.tpm, stats.tpm],
    ] as const) {
      if (value === undefined || !(value > current)) continue;
      const rule = this.limiter.rules.resolve(scope).find((r) => r.name === name)!;
      items.push({ scope, key: stateKey(scope, name), rule, cost: value - current });
    }
    if (items.length > 0) await this.limiter.backend.limits.adjust(items, this.clock.now());
  }

  /** The quota in force for a model (configured, tightened by what receivers reported); zeros when none. */
  quota(model: string): ModelQuota {
    return { ...this.#quotaOf(model) };
  }

  /** {@link quota}, kept per model until its quota changes (read on every decision: not rebuilt each time). */
  #quotaOf(model: string): Readonly<ModelQuota> {
    let quota = this.#inForce.get(model);
    if (quota === undefined) {
      quota = Object.freeze(this.#computeQuota(model));
      // Bounded like the scope keys: model names come from request bodies.
      if (this.#inForce.size >= SCOPE_CACHE) this.#inForce.clear();
      this.#inForce.set(model, quota);
    }
    return quota;
  }

  #computeQuota(model: string): ModelQuota {
    const base = this.#configured.get(model) ?? { maxRpm: 0, maxTpm: 0, maxRpd: 0 };
    const learned = this.#learned.get(model);
    if (!learned) return { ...base };
    const pick = (a: number, b: number | undefined) => (b === undefined ? a : a === 0 ? b : Math.min(a, b));
    return {
      maxRpm: pick(base.maxRpm, learned.maxRpm),
      maxTpm: pick(base.maxTpm, learned.maxTpm),
      maxRpd: pick(base.maxRpd, learned.maxRpd),
    };
  }

  /** The models with a quota (configured or learned). */
  models(): string[] {
    return [...new Set([...this.#configured.keys(), ...this.#learned.keys()])];
  }

  /** True when a request of `estTokens` would be admitted now. */
  async canSend(model: string, estTokens = 0): Promise<boolean> {
    const scope = this.scope(model);
    if (typeof estTokens !== 'number' || !Number.isFinite(estTokens) || estTokens < 0) return false;
    // The engine's own check (no stats to gather): what `decide(...).allowed` answers, in one step.
    return (await this.limiter.peek({ scopes: scope, cost: { requests: 1, tokens: estTokens } })).allowed;
  }

  /** Whether a request of `estTokens` would be admitted now, why, and the model's stats. Charges nothing. */
  async decide(model: string, estTokens = 0): Promise<ModelDecision> {
    const scope = this.scope(model);
    if (typeof estTokens !== 'number' || !Number.isFinite(estTokens) || estTokens < 0) {
      return {
        allowed: false,
        code: 'invalid_tokens',
        reason: `token estimate must be a finite number >= 0, got ${String(estTokens)}`,
        retryAfterMs: Number.POSITIVE_INFINITY,
        stats: await this.stats(model),
      };
    }
    // One read of the three rules answers the common case: a sliding window admits exactly when
    // used + cost <= limit, so stats decide; only a refusal asks the engine for its exact wait.
    const rules = await this.limiter.stats(scope);
    const stats = this.#statsOf(model, rules);
    const blockedMs = blockedFor(rules);
    const known = this.#known(model);
    if (blockedMs <= 0 && fits(stats, estTokens)) return explain(ALLOWED, stats, estTokens, known);
    const decision = await this.limiter.peek({ scopes: scope, cost: { requests: 1, tokens: estTokens } });
    return explain(decision, stats, estTokens, known);
  }

  /** Records a call made (never refused): one request and `promptTokens + outputTokens` tokens, now. */
  async recordUsage(model: string, promptTokens: number, outputTokens = 0): Promise<void> {
    const scope = this.scope(model);
    checkCount(promptTokens, 'promptTokens');
    checkCount(outputTokens, 'outputTokens');
    this.#seen.add(model);
    await this.limiter.adjust({ scopes: scope, delta: { requests: 1, tokens: promptTokens + outputTokens } });
  }

  /**
   * Waits until a request of `estTokens` fits, charges the request and the estimate atomically, and
   * returns the {@link Reservation} to settle with the real usage. Wakes exactly when capacity returns (no
   * polling), first come first served among waiters on the model.
   * @throws CostExceedsCapacityError at once when the estimate exceeds the model's TPM.
   * @throws AbortError / TimeoutError; nothing is charged.
   */
  async reserve(model: string, estTokens: number, options: WaitOptions = {}): Promise<Reservation> {
    const scope = this.scope(model);
    checkCount(estTokens, 'estTokens');
    this.#seen.add(model);
    const request = { scopes: scope, cost: { requests: 1, tokens: estTokens } };
    const timeout =
      options.timeout === undefined ? undefined : parsePositiveDuration(options.timeout, 'timeout');
    // Nobody waiting and room now (the common case on memory and SQLite): admitted without a wait line.
    if (!options.signal?.aborted && this.limiter.acquireNow(request) !== undefined) {
      return new Reservation(this.#host, model, estTokens, this.clock.now());
    }
    const deadline = timeout === undefined ? undefined : this.clock.now() + timeout;
    for (;;) {
      // The engine's acquire waits exactly; a quota change or reset here aborts that wait so the request
      // is decided again under the new rules (the engine does not know the rules changed).
      const wake = this.#wake.signal;
      const signal = options.signal ? AbortSignal.any([options.signal, wake]) : wake;
      const left = deadline === undefined ? undefined : Math.max(0, deadline - this.clock.now());
      if (left === 0) throw new TimeoutError(timeout!);
      try {
        await this.limiter.acquire(request, { signal, timeout: left });
        break;
      } catch (error) {
        if (wake.aborted && !options.signal?.aborted && error instanceof AbortError) continue;
        if (error instanceof TimeoutError && timeout !== undefined) throw new TimeoutError(timeout);
        throw error;
      }
    }
    // Taken once admitted: never before the instant the store charged at, in the same sub-window or the next.
    const at = this.clock.now();
    return new Reservation(this.#host, model, estTokens, at);
  }

  /**
   * Waits until `canSend(model, estTokens)` would be true, without charging anything. Sleeps exactly until
   * the computed time; a quota change or reset wakes it to re-check.
   * @throws InvalidArgumentError for a negative estimate; CostExceedsCapacityError when it can never fit.
   */
  async waitForCapacity(model: string, estTokens = 0, options: WaitOptions = {}): Promise<ModelDecision> {
    checkCount(estTokens, 'estTokens');
    const timeout =
      options.timeout === undefined ? undefined : parsePositiveDuration(options.timeout, 'timeout');
    const deadline = timeout === undefined ? Number.POSITIVE_INFINITY : this.clock.now() + timeout;
    for (;;) {
      if (options.signal?.aborted) throw new AbortError();
      // Taken before deciding: a quota change or reset during the decision makes the sleep end at once.
      const wake = this.#wake.signal;
      const decision = await this.decide(model, estTokens);
      if (decision.allowed) return decision;
      if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
        throw new CostExceedsCapacityError(this.scope(model), NAMES.tpm, estTokens, this.quota(model).maxTpm);
      }
      const left = deadline - this.clock.now();
      if (left <= 0) throw new TimeoutError(timeout!);
      const signals = options.signal ? [wake, options.signal] : [wake];
      try {
        await this.clock.sleep(Math.min(decision.retryAfterMs, left), AbortSignal.any(signals));
      } catch (error) {
        if (options.signal?.aborted) throw error instanceof AbortError ? error : new AbortError();
      }
    }
  }

  /** Usage of a model now (also of a model without a quota: its usage is counted all the same). */
  async stats(model: string): Promise<ModelStats> {
    return this.#statsOf(model, await this.limiter.stats(this.scope(model)));
  }

  /** A model's stats from the usage of its rules (in the order {@link #rules} defines them). */
  #statsOf(model: string, rules: readonly RuleStats[]): ModelStats {
    const quota = this.#quotaOf(model);
    const stats: ModelStats = {
      rpm: 0,
      maxRpm: quota.maxRpm,
      tpm: 0,
      maxTpm: quota.maxTpm,
      rpd: 0,
      maxRpd: quota.maxRpd,
    };
    for (const r of rules) {
      if (r.rule === NAMES.rpm) stats.rpm = r.used;
      else if (r.rule === NAMES.tpm) stats.tpm = r.used;
      else if (r.rule === NAMES.rpd) stats.rpd = r.used;
    }
    return stats;
  }

  /** Stats of every model with a quota and every model this instance recorded usage for. */
  async allStats(): Promise<Record<string, ModelStats>> {
    const models = this.#known();
    const stats = await Promise.all(models.map((m) => this.stats(m)));
    return Object.fromEntries(models.map((m, i) => [m, stats[i]!]));
  }

  /**
   * Forgets the usage, blocks and learned limits of one model, or (no model) of every model this instance
   * knows (with a quota, or used here). Other scopes of a shared backend are untouched.
   */
  async reset(model?: string): Promise<void> {
    const models = model === undefined ? this.#known() : [checkModel(model)];
    for (const m of models) {
      if (this.#learned.delete(m)) this.#apply(m);
      await this.limiter.reset(this.scope(m));
    }
    this.#wakeAll();
  }

  /** Blocks a model for everyone sharing the backend (after a 429), e.g. `block('gpt-4o', 26_000)`. */
  async block(model: string, duration: Duration): Promise<void> {
    await this.limiter.block(this.scope(model), duration);
  }

  #known(): string[];
  #known(model: string): boolean;
  #known(model?: string): string[] | boolean {
    if (model !== undefined) return this.#configured.has(model) || this.#learned.has(model);
    return [...new Set([...this.models(), ...this.#seen])];
  }

  #apply(model: string): void {
    this.#inForce.delete(model);
    this.limiter.define(this.scope(model), this.#rules(this.quota(model)));
    this.#wakeAll();
  }

  #wakeAll(): void {
    this.#wake.abort();
    this.#wake = new AbortController();
  }

  #rules(quota: ModelQuota): Rule[] {
    const limit = (n: number) => (n === 0 ? UNLIMITED : n);
    return [
      { name: NAMES.rpm, unit: 'requests', limit: limit(quota.maxRpm), window: this.#minuteMs },
      { name: NAMES.tpm, unit: 'tokens', limit: limit(quota.maxTpm), window: this.#minuteMs },
      // go-ratelimit's day: from the first request (`day_start`) until a day later, then a new one.
      {
        name: NAMES.rpd,
        unit: 'requests',
        limit: limit(quota.maxRpd),
        window: this.#dayMs,
        algorithm: 'anchored-window',
      },
    ];
  }
}

/** The longest block on the model's scope (0 when none). */
function blockedFor(rules: readonly RuleStats[]): number {
  let blockedMs = 0;
  for (const r of rules) if (r.blockedMs > blockedMs) blockedMs = r.blockedMs;
  return blockedMs;
}

/** Whether one more request of `est` tokens fits every limited dimension (0 = unlimited). */
function fits(s: ModelStats, est: number): boolean {
  return (
    (s.maxRpm === 0 || s.rpm + 1 <= s.maxRpm) &&
    (s.maxTpm === 0 || s.tpm + est <= s.maxTpm) &&
    (s.maxRpd === 0 || s.rpd + 1 <= s.maxRpd)
  );
}

const ALLOWED: Decision = { allowed: true, retryAfterMs: 0, remaining: 0, limit: 0, blockedBy: null };

/** The go-ratelimit reading of an engine decision: the first dimension over its limit, in RPM, TPM, RPD order. */
function explain(decision: Decision, stats: ModelStats, est: number, known: boolean): ModelDecision {
  const quota = { maxRpm: stats.maxRpm, maxTpm: stats.maxTpm, maxRpd: stats.maxRpd };
  if (decision.allowed) {
    if (!known) return answer(true, 'unknown_model', 'no quota for this model: not limited', 0, stats);
    if (isUnlimited(quota)) return answer(true, 'unlimited', 'every dimension unlimited', 0, stats);
    return answer(true, 'ok', 'within every limit', 0, stats);
  }
  const wait = decision.retryAfterMs;
  if (decision.blockedBy?.rule === 'block') {
    return answer(false, 'blocked', `blocked for ${wait}ms (the receiver answered 429)`, wait, stats);
  }
  if (stats.maxRpm > 0 && stats.rpm >= stats.maxRpm) {
    return answer(false, 'rpm_exceeded', `rpm ${stats.rpm} >= max ${stats.maxRpm}`, wait, stats);
  }
  if (stats.maxTpm > 0 && stats.tpm + est > stats.maxTpm) {
    const reason = `tpm ${stats.tpm} + ${est} > max ${stats.maxTpm}`;
    return answer(false, 'tpm_exceeded', reason, wait, stats);
  }
  if (stats.maxRpd > 0 && stats.rpd >= stats.maxRpd) {
    return answer(false, 'rpd_exceeded', `rpd ${stats.rpd} >= max ${stats.maxRpd}`, wait, stats);
  }
  // Stats were read beside the decision (not in the same step): name the rule the engine reported.
  const rule = decision.blockedBy?.rule;
  const code = rule === NAMES.tpm ? 'tpm_exceeded' : rule === NAMES.rpd ? 'rpd_exceeded' : 'rpm_exceeded';
  return answer(false, code, `refused by ${rule ?? 'a limit'}`, wait, stats);
}

function answer(
  allowed: boolean,
  code: ModelDecisionCode,
  reason: string,
  retryAfterMs: number,
  stats: ModelStats,
): ModelDecision {
  return { allowed, code, reason, retryAfterMs, stats };
}
