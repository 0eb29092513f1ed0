import { RateKeeperError } from '../core/errors.js';

/**
 * Throw from a sender when the receiver said "retry after N" (HTTP 429 `Retry-After`, Telegram
 * `retry_after`). The message waits exactly that long and its scopes are blocked for every process
 * sharing the backend.
 * @example throw new RetryAfterError(3_000, 'Too Many Requests');
 */
export class RetryAfterError extends RateKeeperError {
  readonly retryAfterMs: number;
  constructor(
    retryAfterMs: number,
    message = `retry after ${retryAfterMs}ms`,
    options?: { cause?: unknown },
  ) {
    super('ERR_RETRY_AFTER', message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

/** Throw from a sender when retrying cannot help (bad request, chat not found): straight to dead letters. */
export class PermanentError extends RateKeeperError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_PERMANENT', message, options);
  }
}

/** Type guard for {@link RetryAfterError}. */
export function isRetryAfterError(error: unknown): error is RetryAfterError {
  return error instanceof RetryAfterError;
}

/** Type guard for {@link PermanentError}. */
export function isPermanentError(error: unknown): error is PermanentError {
  return error instanceof PermanentError;
}
