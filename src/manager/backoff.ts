import { type Duration, parseDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';

/** How failed deliveries are retried. */
export interface RetryOptions {
  /**
   * Failed deliveries before a message goes to the dead letters (the first try counts). A receiver's
   * retry-after answer is not a failed delivery and does not count (see `maxRetryAfter`). @default 5
   */
  maxAttempts?: number;
  /**
   * Retry-after answers a batch may get (counted by the process delivering it: a restart or another
   * process starts again from 0) before it goes to the dead letters: a receiver that always says "retry after" cannot keep it forever.
   * @default 20
   */
  maxRetryAfter?: number;
  /** Backoff ceiling of the first retry. @default '1s' */
  baseDelay?: Duration;
  /** Largest backoff ceiling. @default '1m' */
  maxDelay?: Duration;
}

export interface Backoff {
  readonly maxAttempts: number;
  readonly maxRetryAfter: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export function compileBackoff(options: RetryOptions = {}): Backoff {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(
      'retry',
      'an object { maxAttempts?, maxRetryAfter?, baseDelay?, maxDelay? }',
      options,
    );
  }
  const maxAttempts = options.maxAttempts ?? 5;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new InvalidArgumentError('retry.maxAttempts', 'an integer >= 1', maxAttempts);
  }
  const maxRetryAfter = options.maxRetryAfter ?? 20;
  if (!Number.isInteger(maxRetryAfter) || maxRetryAfter < 0) {
    throw new InvalidArgumentError('retry.maxRetryAfter', 'an integer >= 0', maxRetryAfter);
  }
  const baseDelayMs = parseDuration(options.baseDelay ?? '1s', 'retry.baseDelay');
  const maxDelayMs = parseDuration(options.maxDelay ?? '1m', 'retry.maxDelay');
  if (maxDelayMs < baseDelayMs) {
    throw new InvalidArgumentError(
      'retry.maxDelay',
      `a duration >= retry.baseDelay (${baseDelayMs}ms)`,
      options.maxDelay,
    );
  }
  return { maxAttempts, maxRetryAfter, baseDelayMs, maxDelayMs };
}

/**
 * Exponential backoff with full jitter: after the `attempt`-th failure (1-based) wait a uniformly random
 * time in `[0, min(maxDelay, baseDelay · 2^(attempt-1))]`.
 */
export function backoffDelay(backoff: Backoff, attempt: number, random: () => number): number {
  const ceiling = Math.min(backoff.maxDelayMs, backoff.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}
