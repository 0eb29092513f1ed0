import { EventEmitter } from 'node:events';
import type { MessageStatus, Priority } from '../backends/types.js';
import { RateKeeperError } from '../core/errors.js';
import { errorText } from './failure.js';

/** Events a manager emits. `error` carries background failures (see {@link Logger} for when nobody listens). */
export interface ManagerEvents {
  sent: [{ ids: string[]; priority: Priority; jobId: string; attempt: number }];
  enqueued: [{ ids: string[]; priority: Priority }];
  dropped: [{ ids: string[]; priority: Priority; status: MessageStatus; error?: string }];
  retry: [
    { ids: string[]; priority: Priority; jobId: string; attempt: number; delayMs: number; error: unknown },
  ];
  'dead-lettered': [{ ids: string[]; priority: Priority; jobId: string; attempts: number; error: unknown }];
  recovered: [{ count: number }];
  /** Another process now holds the lease of batches this one was delivering (see `leaseTime`). */
  'lease-lost': [{ jobIds: string[] }];
  error: [Error];
}

/**
 * Where background failures go when nobody listens to `error`: any object with pino's `warn(obj, msg)`
 * (pino, console-like wrappers). The default writes one line to stderr, at most one a second (the
 * lines it held back are counted in the next one).
 */
export interface Logger {
  warn(obj: Record<string, unknown>, msg?: string): void;
}

/** The default {@link Logger}: one line on stderr, at most one per `intervalMs` (the rest counted). */
export function stderrLogger(intervalMs = 1000, now: () => number = Date.now): Logger {
  let last = Number.NEGATIVE_INFINITY;
  let held = 0;
  return {
    warn(obj, msg) {
      const t = now();
      if (t - last < intervalMs) {
        held++;
        return;
      }
      last = t;
      const more = held > 0 ? ` (${held} more since the last line)` : '';
      held = 0;
      const cause = obj.err === undefined ? '' : `: ${errorText(obj.err)}`;
      process.stderr.write(`ratekeeper: ${msg ?? 'warning'}${cause}${more}\n`);
    },
  };
}

/** A manager event listener threw; the manager's bookkeeping went on unaffected. */
export class ListenerError extends RateKeeperError {
  /** The event whose listener threw. */
  readonly event: string;
  constructor(event: string, cause: unknown) {
    super('ERR_LISTENER', `a '${event}' listener threw: ${errorText(cause)}`, { cause });
    this.event = event;
  }
}

/**
 * A manager's events and background failures. Emitting never reaches the caller: a listener that throws,
 * or returns a promise that rejects (the emitter is built with `captureRejections`), is reported as a
 * {@link ListenerError}. Failures go to `error` listeners, or, when there are none, to the logger.
 */
/** The part of an EventEmitter the reporter uses. */
interface Emitter {
  emit(event: string, ...args: unknown[]): boolean;
  listenerCount(event: string): number;
}

export class EventReporter {
  readonly #emitter: Emitter;
  readonly #logger: Logger;
  readonly #name: string;

  constructor(emitter: Emitter, logger: Logger, name: string) {
    this.#emitter = emitter;
    this.#logger = logger;
    this.#name = name;
    (emitter as unknown as Record<symbol, unknown>)[EventEmitter.captureRejectionSymbol] = (
      error: unknown,
      event: string,
    ) => this.#listenerFailed(event, error);
  }

  emit<K extends keyof ManagerEvents>(event: K, ...args: ManagerEvents[K]): void {
    const emitter = this.#emitter;
    if (emitter.listenerCount(event) === 0) return;
    try {
      emitter.emit(event, ...args);
    } catch (error) {
      this.#listenerFailed(event, error);
    }
  }

  /** A background failure: to `error` listeners, or when there are none, to the logger. */
  fault(error: unknown): void {
    const err = error instanceof Error ? error : new Error(errorText(error));
    if (this.#emitter.listenerCount('error') > 0) this.emit('error', err);
    else this.#log(err, 'background error (listen to the manager\'s "error" event to handle it)');
  }

  #listenerFailed(event: string, error: unknown): void {
    if (event === 'error') this.#log(error, `an 'error' listener threw`);
    else this.fault(new ListenerError(event, error));
  }

  #log(error: unknown, msg: string): void {
    try {
      this.#logger.warn({ err: error, manager: this.#name }, msg);
    } catch {
      // A logger that throws has nowhere left to report to.
    }
  }
}
