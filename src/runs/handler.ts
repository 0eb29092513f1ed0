import type { QueueStore } from '../backends/types.js';
import type { Clock } from '../core/clock.js';
import type { RateLimiter } from '../limiter/rate-limiter.js';
import type { RunStore } from './store/index.js';

/** One job of a run as the handler sees it. */
export interface RunJob<T = unknown> {
  /** The id it was enqueued with. */
  id: string;
  type: string;
  payload: T;
}

/** What the handler learns about a call. */
export interface RunJobContext {
  /** The endpoint that admitted it (primary or overflow). */
  endpoint: string;
  /** 1 on the first attempt. */
  attempt: number;
  /** Aborts when the run stops (deadline or cancel) and the grace period ran out: the job is returned. */
  signal: AbortSignal;
}

/** The user's job function: resolves when done, throws to retry (or dead-letter after `maxAttempts`). */
export type RunHandler<T = unknown> = (job: RunJob<T>, context: RunJobContext) => Promise<unknown>;

/** What a participant needs from its `Runs`. */
export interface ParticipantContext<T> {
  store: RunStore;
  limiter: RateLimiter;
  clock: Clock;
  owner: string;
  queue(type: string): QueueStore<T>;
  handler: RunHandler<T>;
}

/** Jobs of one queue not done yet: queued, retrying and in flight. */
export async function remainingOf(queue: QueueStore<unknown>, now: number): Promise<number> {
  const s = await queue.stats(now);
  return s.queued.critical + s.queued.normal + s.queued.optional + s.retrying + s.inFlight;
}
