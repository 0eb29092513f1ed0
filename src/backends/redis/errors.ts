import { ReplyError } from 'ioredis';
import { BackendError } from '../../core/errors.js';

/** Redis could not be reached (refused, closed, timed out, cluster down): the limits may fall back. */
export class RedisUnavailableError extends BackendError {}

/** Replies that mean "the server cannot serve now", not "the command is wrong". */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|BUSY)\b/;

/** Wraps whatever a Redis call threw in a BackendError (a RedisUnavailableError when Redis is unreachable). */
export function toBackendError(error: unknown, what: string): BackendError {
  if (error instanceof BackendError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ReplyError && !TRANSIENT_REPLY.test(message)) {
    return new BackendError(`Redis ${what} failed: ${message}`, { cause: error });
  }
  return new RedisUnavailableError(`Redis unreachable during ${what}: ${message}`, { cause: error });
}

/** Rejects with a RedisUnavailableError when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  if (!Number.isFinite(ms)) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new RedisUnavailableError(`Redis did not answer ${what} within ${ms}ms`)),
      ms,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
