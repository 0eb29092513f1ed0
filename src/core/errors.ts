/**
 * Every error ratekeeper throws or rejects with is a {@link RateKeeperError} with a stable `code`.
 * Callers branch on `code` (or the type guards), never on message text.
 */
export type ErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_ABORTED'
  | 'ERR_TIMEOUT'
  | 'ERR_COST_EXCEEDS_CAPACITY'
  | 'ERR_BACKEND'
  | 'ERR_NOT_A_DATABASE'
  | 'ERR_DUPLICATE_MESSAGE'
  | 'ERR_CLOSED'
  | 'ERR_RETRY_AFTER'
  | 'ERR_PERMANENT'
  | 'ERR_LISTENER'
  | 'ERR_UPSTREAM';

/** Base class of every ratekeeper error. */
export class RateKeeperError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Describes a value for an error message without dumping huge objects. */
export function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `array(${value.length})`;
  if (typeof value === 'function') return 'function';
  return typeof value;
}

/** A caller passed something ratekeeper cannot use. `field` names it; the message says what was expected. */
export class InvalidArgumentError extends RateKeeperError {
  readonly field: string;
  readonly expected: string;
  readonly received: unknown;
  constructor(field: string, expected: string, received: unknown) {
    super('ERR_INVALID_ARGUMENT', `${field}: expected ${expected}, received ${describe(received)}`);
    this.field = field;
    this.expected = expected;
    this.received = received;
  }
}

/** `acquire` or a wait was aborted through its `AbortSignal`. Nothing was charged. */
export class AbortError extends RateKeeperError {
  constructor(message = 'the operation was aborted', options?: { cause?: unknown }) {
    super('ERR_ABORTED', message, options);
  }
}

/** `acquire` or a wait ran out of time. Nothing was charged. */
export class TimeoutError extends RateKeeperError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super('ERR_TIMEOUT', `not admitted within ${timeoutMs}ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The request costs more than a rule can ever admit, so waiting would never end. */
export class CostExceedsCapacityError extends RateKeeperError {
  readonly scope: string;
  readonly rule: string;
  constructor(scope: string, rule: string, cost: number, capacity: number) {
    super(
      'ERR_COST_EXCEEDS_CAPACITY',
      `cost ${cost} exceeds the capacity ${capacity} of rule ${rule} on scope ${JSON.stringify(scope)}; it can never be admitted`,
    );
    this.scope = scope;
    this.rule = rule;
  }
}

/** The storage behind a backend failed (I/O, connection, corrupt data). */
export class BackendError extends RateKeeperError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_BACKEND', message, options);
  }
}

/** A file given to the SQLite backend is not a SQLite database (or not one of ours). It was left untouched. */
export class NotADatabaseError extends RateKeeperError {
  readonly path: string;
  constructor(path: string, detail: string, options?: { cause?: unknown }) {
    super('ERR_NOT_A_DATABASE', `${path} is not a usable ratekeeper SQLite database: ${detail}`, options);
    this.path = path;
  }
}

/** A message id is already queued or in flight. Nothing of the batch was written. */
export class DuplicateMessageError extends RateKeeperError {
  readonly ids: readonly string[];
  constructor(ids: readonly string[]) {
    super(
      'ERR_DUPLICATE_MESSAGE',
      `message id(s) already queued or in flight: ${ids.slice(0, 5).join(', ')}`,
    );
    this.ids = ids;
  }
}

/** The component was closed or stopped. */
export class ClosedError extends RateKeeperError {
  constructor(what: string) {
    super('ERR_CLOSED', `${what} is closed`);
  }
}

/** Type guard: any ratekeeper error, optionally of one `code`. */
export function isRateKeeperError(error: unknown, code?: ErrorCode): error is RateKeeperError {
  return error instanceof RateKeeperError && (code === undefined || error.code === code);
}

/** Type guard for {@link InvalidArgumentError}. */
export function isInvalidArgumentError(error: unknown): error is InvalidArgumentError {
  return error instanceof InvalidArgumentError;
}
