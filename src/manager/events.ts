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
