import { InvalidArgumentError } from '../../core/errors.js';

/** What a {@link Reservation} needs from its limiter: one correction of the charge it holds. */
export interface ReservationHost {
  /**
   * Adds `delta` to the model's usage (negative gives back), attributed to the instant `at` of the
   * reservation's admission: a refund frees capacity only where the reserved charge was counting.
   */
  correct(model: string, delta: { requests: number; tokens: number }, at: number): Promise<void>;
}

/**
 * Capacity held for one call: a request and `estimate` tokens, charged atomically with the admission
 * (`ModelLimiter.reserve`). Settle it once, after the call:
 * - {@link commit} with the real usage (the charge becomes the real token count; the request stays counted);
 * - {@link release} when the call never reached the receiver (everything is given back).
 * Later calls of either do nothing and return false.
 * @example
 * const r = await ml.reserve('gpt-4o', 1200);
 * try { const res = await call(); await r.commit(res.usage.prompt_tokens, res.usage.completion_tokens); }
 * catch (e) { await r.release(); throw e; }
 */
export class Reservation {
  readonly model: string;
  /** Tokens charged at admission. */
  readonly estimate: number;
  /** When it was admitted and charged (ms, the limiter's clock): corrections are attributed to it. */
  readonly at: number;
  #settled = false;
  readonly #host: ReservationHost;

  constructor(host: ReservationHost, model: string, estimate: number, at: number) {
    this.#host = host;
    this.model = model;
    this.estimate = estimate;
    this.at = at;
  }

  /** True once committed or released. */
  get settled(): boolean {
    return this.#settled;
  }

  /**
   * Corrects the charge to the real usage: `promptTokens + outputTokens` replaces the estimate. Usage above
   * the estimate is recorded too (never refused).
   */
  async commit(promptTokens: number, outputTokens = 0): Promise<boolean> {
    checkCount(promptTokens, 'promptTokens');
    checkCount(outputTokens, 'outputTokens');
    if (this.#settled) return false;
    this.#settled = true;
    const delta = promptTokens + outputTokens - this.estimate;
    if (delta !== 0) await this.#host.correct(this.model, { requests: 0, tokens: delta }, this.at);
    return true;
  }

  /** Gives back the request and the estimated tokens: the call was never made. */
  async release(): Promise<boolean> {
    if (this.#settled) return false;
    this.#settled = true;
    await this.#host.correct(this.model, { requests: -1, tokens: -this.estimate }, this.at);
    return true;
  }
}

/** A token count: a finite number ≥ 0. */
export function checkCount(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidArgumentError(field, 'a finite number of tokens >= 0', value);
  }
  return value;
}
