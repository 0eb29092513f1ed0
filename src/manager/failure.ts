/**
 * Reading a sender's failure: a retry-after answer (RetryAfterError, `retryAfterMs`, Telegram's
 * `parameters.retry_after`, HTTP 429/503 `Retry-After`), a permanent one, or a transient one.
 */
import { PermanentError, RetryAfterError } from './sender-errors.js';

/** How a sender failure is handled. */
export type FailureKind =
  | { kind: 'retry-after'; delayMs: number }
  | { kind: 'permanent' }
  | { kind: 'transient' };

type Bag = Record<string, unknown>;

function bag(value: unknown): Bag | undefined {
  return value !== null && typeof value === 'object' ? (value as Bag) : undefined;
}

function header(headers: unknown, name: string): unknown {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === 'function') return (headers as Headers).get(name);
  const h = bag(headers);
  if (!h) return undefined;
  for (const key of Object.keys(h)) if (key.toLowerCase() === name) return h[key];
  return undefined;
}

/** Parses an HTTP `Retry-After` value: delay in seconds, or an HTTP date. */
export function parseRetryAfterHeader(value: unknown, now: number): number | undefined {
  if (Array.isArray(value)) value = value[0];
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function statusOf(error: Bag): number | undefined {
  const response = bag(error.response);
  for (const value of [
    error.status,
    error.statusCode,
    response?.status,
    response?.statusCode,
    error.error_code,
  ]) {
    if (typeof value === 'number') return value;
  }
  return undefined;
}

/**
 * Reads what a sender's error says:
 * - `RetryAfterError`, an error with `retryAfterMs`, Telegram's `parameters.retry_after` (seconds, also under
 *   `response`), or an HTTP 429/503 with a `Retry-After` header (seconds or a date) → wait exactly that long;
 * - `PermanentError`, `permanent: true`, or an HTTP 4xx other than 408, 425 and 429 → dead letters at once;
 * - anything else → retry with backoff.
 */
export function classifyFailure(error: unknown, now: number): FailureKind {
  if (error instanceof RetryAfterError)
    return { kind: 'retry-after', delayMs: Math.max(0, error.retryAfterMs) };
  if (error instanceof PermanentError) return { kind: 'permanent' };
  const e = bag(error);
  if (!e) return { kind: 'transient' };
  if (typeof e.retryAfterMs === 'number' && Number.isFinite(e.retryAfterMs) && e.retryAfterMs >= 0) {
    return { kind: 'retry-after', delayMs: e.retryAfterMs };
  }
  const response = bag(e.response);
  for (const parameters of [bag(e.parameters), bag(response?.parameters), bag(bag(e.body)?.parameters)]) {
    const seconds = parameters?.retry_after;
    if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0) {
      return { kind: 'retry-after', delayMs: seconds * 1000 };
    }
  }
  const status = statusOf(e);
  const headerValue = header(e.headers, 'retry-after') ?? header(response?.headers, 'retry-after');
  const fromHeader = parseRetryAfterHeader(headerValue, now);
  if (fromHeader !== undefined && (status === undefined || status === 429 || status === 503)) {
    return { kind: 'retry-after', delayMs: fromHeader };
  }
  if (e.permanent === true) return { kind: 'permanent' };
  if (
    status !== undefined &&
    status >= 400 &&
    status < 500 &&
    status !== 408 &&
    status !== 425 &&
    status !== 429
  ) {
    return { kind: 'permanent' };
  }
  return { kind: 'transient' };
}

/** A short, storable description of an error. */
export function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 2000);
  try {
    return String(typeof error === 'object' ? JSON.stringify(error) : error).slice(0, 2000);
  } catch {
    return String(error).slice(0, 2000);
  }
}
