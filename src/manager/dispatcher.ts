import type { Job, LeaseRef, QueuedMessage, QueueStore } from '../backends/types.js';
import type { Clock } from '../core/clock.js';
import type { RateLimiter } from '../limiter/rate-limiter.js';
import { backoffDelay } from './backoff.js';
import { Completions } from './completions.js';
import type { ManagerEvents } from './events.js';
import { classifyFailure, errorText } from './failure.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { ResolvedOptions } from './options.js';
import { failedParts, failuresOf, type MessageFailure } from './partial-outcome.js';
import type { TurnBatch } from './turn-batch.js';

/** Most jobs whose retry-after answers are counted at once (the oldest counts are forgotten first). */
const MAX_WAIT_COUNTS = 10_000;

/**
 * What a sender may resolve with. Nothing (or no `failed`) means the whole batch was delivered. `failed`
 * names the messages that were not: the others are recorded delivered and never sent again; each failed
 * one goes on as its own error says, as if the sender had thrown it for that message alone. A permanent
 * failure is dead-lettered at once with its own error, whatever its siblings got; retry-after answers
 * wait together (the longest), without counting an attempt; transient failures are retried together
 * with backoff, counting one.
 * @example
 * return {
 *   failed: [
 *     { id: 'm3', error: new RetryAfterError(2000) }, // waits 2 s, then is sent again
 *     { id: 'm4', error: new PermanentError('chat not found') }, // a dead letter now, never sent again
 *   ],
 * };
 */
export interface SendOutcome {
  failed?: ReadonlyArray<{ id: string; error: unknown }>;
}

/** Emits an event; a listener that throws never reaches the caller (see `RateLimitManager`). */
export type Emit = <K extends keyof ManagerEvents>(event: K, ...args: ManagerEvents[K]) => void;

export interface DispatcherContext<T> {
  queue: QueueStore<T>;
  limiter: RateLimiter;
  clock: Clock;
  options: ResolvedOptions<T>;
  keeper: LeaseKeeper;
  /** Whether a batch passes through an endpoint pool. */
  pooled(scopes: readonly string[]): boolean;
  /** What a retry-after answer blocks for a batch (its scopes, the endpoint it went through, or the quota). */
  blockScopes(scopes: readonly string[], alternative: number | undefined): string[];
  emit: Emit;
  /** Whether an event has listeners (to skip building its payload). */
  listens(event: keyof ManagerEvents): boolean;
  fault(error: unknown): void;
  /** A slot freed or work was scheduled: the loop may have something to do. */
  kick(): void;
  /** The manager's turn transaction, when its backend has one: deliveries are recorded in it. */
  turn?: Pick<TurnBatch, 'run'>;
}

/**
 * Runs the sender for leased batches and records what came of them: delivered (in one store call per
 * tick), partly delivered, retried, held by a retry-after answer, or dead-lettered. It owns the
 * concurrency cap: `reserve()` takes a slot synchronously, so callers that check the cap and then await
 * something can never overshoot it.
 *
 * Bookkeeping never depends on user code: listeners are called through `emit` (which isolates them),
 * and a completion that cannot be recorded (the store failed) is kept and tried again on the next flush,
 * its lease still renewed, so the batch is not delivered twice.
 */
export class Dispatcher<T> {
  readonly #c: DispatcherContext<T>;
  /** Batches in the sender, by their lease (one object per dispatch). */
  readonly #inFlight = new Map<LeaseRef, Promise<void>>();
  #reserved = 0;
  /** Delivered batches whose completion is not recorded yet. */
  readonly #completions: Completions;
  /** Retry-after answers per job id, counted by this process (see `retry.maxRetryAfter`). */
  readonly #waits = new Map<string, number>();
  #idleWaiters: Array<() => void> = [];

  constructor(context: DispatcherContext<T>) {
    this.#c = context;
    this.#completions = new Completions(context);
  }

  /** Batches in the sender plus slots reserved for batches about to go. */
  get busy(): number {
    return this.#inFlight.size + this.#reserved;
  }

  /** Slots left under `concurrency`. */
  get free(): number {
    return this.#c.options.concurrency - this.busy;
  }

  /** Batches in the sender now. */
  get sending(): number {
    return this.#inFlight.size;
  }

  /** Deliveries not yet recorded in the store. */
  get unrecorded(): number {
    return this.#completions.size;
  }

  /** Takes a slot for a batch about to be dispatched; false when none is free. Give it back with `unreserve`. */
  reserve(): boolean {
    if (this.free <= 0) return false;
    this.#reserved++;
    return true;
  }

  /** Takes up to `count` free slots at once (a claim's worth); returns how many it took. */
  reserveUpTo(count: number): number {
    const taken = Math.max(0, Math.min(count, this.free));
    this.#reserved += taken;
    return taken;
  }

  /** Gives back `count` reserved slots (unused: the job was not dispatched). */
  unreserve(count = 1): void {
    this.#reserved = Math.max(0, this.#reserved - count);
    this.#idle();
  }

  /**
   * Resolves when no batch is in the sender and no slot is reserved (an offer between its checks and its
   * dispatch holds one), so `stop()` also waits for direct sends already under way.
   */
  async settled(): Promise<void> {
    while (this.busy > 0) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
  }

  #idle(): void {
    if (this.busy > 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /** A lease was taken over by another process: its delivery, if pending, is no longer ours to record. */
  lost(leases: readonly LeaseRef[]): void {
    this.#completions.lost(leases);
  }

  /** Hands a leased job to the sender. `reserved`: it uses a slot taken with `reserve()`. */
  dispatch(job: Job<T>, lease: LeaseRef, reserved = false, alternative?: number): void {
    if (reserved && this.#reserved > 0) this.#reserved--;
    this.#c.keeper.keep(lease);
    const done = this.#deliver(job, lease, alternative).finally(() => {
      this.#inFlight.delete(lease);
      this.#idle();
      this.#c.kick();
    });
    this.#inFlight.set(lease, done);
  }

  /** Records delivered batches (see {@link Completions.flush}). */
  flush(): Promise<void> {
    return this.#completions.flush();
  }

  async #deliver(job: Job<T>, lease: LeaseRef, alternative: number | undefined): Promise<void> {
    const { options } = this.#c;
    const attempt = job.attempts + 1;
    const batch: Array<QueuedMessage<T>> = job.messages.slice();
    let outcome: unknown;
    try {
      outcome = await options.sender(batch, {
        jobId: job.id,
        priority: job.priority,
        attempt,
        scopes: job.scopes,
        ...(alternative === undefined ? {} : { alternative }),
      });
    } catch (error) {
      await this.#failed(job, lease, error, alternative).catch((e: unknown) => this.#c.fault(e));
      return;
    }
    const failed = failuresOf(outcome, batch);
    if (failed === undefined) {
      if (this.#waits.size > 0) this.#waits.delete(job.id);
      this.#completions.add(lease);
      if (this.#c.listens('sent')) {
        this.#c.emit('sent', { ids: batch.map((m) => m.id), priority: job.priority, jobId: job.id, attempt });
      }
      return;
    }
    try {
      const failedIds = new Set(failed.map((f) => f.id));
      const delivered = batch.filter((m) => !failedIds.has(m.id)).map((m) => m.id);
      if (delivered.length > 0) {
        if (!(await this.#c.queue.completeMessages(lease, delivered, this.#c.clock.now()))) {
          this.#c.keeper.release(lease); // another process holds it now
          return;
        }
        this.#c.emit('sent', { ids: delivered, priority: job.priority, jobId: job.id, attempt });
        // Progress: the retry-after answers in a row start over (a batch delivered bit by bit is not stuck).
        this.#waits.delete(job.id);
      }
      await this.#failedParts(job, lease, batch, failed, alternative);
    } catch (error) {
      // The store failed: the lease is no longer renewed, so the job is recovered and its rest redelivered.
      this.#c.keeper.release(lease);
      this.#c.fault(error);
    }
  }

  /**
   * Settles the failed messages of a batch, each part as its own failure (see `failedParts`). The first
   * part stays in the job; each other one is split off into a job of its own under the same lease owner
   * first (kept renewed until settled), so a permanent failure is buried with its own error while a
   * sibling waits for a retry-after or retries with backoff. The first part is settled first: a
   * retry-after answer blocks the batch's scopes and holds its lane before a sibling is released.
   */
  async #failedParts(
    job: Job<T>,
    lease: LeaseRef,
    batch: ReadonlyArray<QueuedMessage<T>>,
    failed: readonly MessageFailure[],
    alternative: number | undefined,
  ): Promise<void> {
    const parts = failedParts(failed, this.#c.clock.now());
    const settle: Array<{ job: Job<T>; lease: LeaseRef; error: unknown }> = [];
    const split: LeaseRef[] = [];
    try {
      for (const [i, part] of parts.entries()) {
        const ids = new Set(part.ids);
        const messages = batch.filter((m) => ids.has(m.id));
        let held = lease;
        if (i > 0) {
          const jobId = await this.#c.queue.splitMessages(lease, part.ids);
          if (jobId === null) {
            this.#c.keeper.release(lease); // another process holds it now
            return;
          }
          held = { jobId, owner: lease.owner };
          split.push(held);
          this.#c.keeper.keep(held);
        }
        settle.push({ job: { ...job, id: held.jobId, messages }, lease: held, error: part.error });
      }
      for (const part of settle) await this.#failed(part.job, part.lease, part.error, alternative);
    } finally {
      // A part not settled (the store failed) is no longer renewed: it is recovered and redelivered.
      for (const held of split) this.#c.keeper.release(held);
    }
  }

  async #failed(
    job: Job<T>,
    lease: LeaseRef,
    error: unknown,
    alternative: number | undefined,
  ): Promise<void> {
    const { queue, options, clock, limiter } = this.#c;
    const now = clock.now();
    const attempt = job.attempts + 1;
    const ids = job.messages.map((m) => m.id);
    const failure = classifyFailure(error, now);
    const text = errorText(error);
    try {
      if (
        failure.kind === 'permanent' ||
        (failure.kind === 'transient' && attempt >= options.backoff.maxAttempts)
      ) {
        this.#waits.delete(job.id);
        if (await queue.bury(lease, now, text)) {
          this.#c.emit('dead-lettered', {
            ids,
            priority: job.priority,
            jobId: job.id,
            attempts: attempt,
            error,
          });
        }
        return;
      }
      let delayMs: number;
      let notBefore: number | undefined;
      if (failure.kind === 'retry-after') {
        // A receiver's retry-after answer counts no attempt; its own cap keeps it from looping forever.
        const waits = (this.#waits.get(job.id) ?? 0) + 1;
        if (waits > options.backoff.maxRetryAfter) {
          this.#waits.delete(job.id);
          const reason = new Error(
            `the receiver answered retry-after ${waits} times (retry.maxRetryAfter is ` +
              `${options.backoff.maxRetryAfter}); last: ${text}`,
            { cause: error },
          );
          if (await queue.bury(lease, now, reason.message)) {
            this.#c.emit('dead-lettered', {
              ids,
              priority: job.priority,
              jobId: job.id,
              attempts: attempt,
              error: reason,
            });
          }
          return;
        }
        this.#waits.delete(job.id);
        if (this.#waits.size >= MAX_WAIT_COUNTS) this.#waits.delete(this.#waits.keys().next().value!);
        this.#waits.set(job.id, waits);
        delayMs = failure.delayMs;
        await limiter.block(this.#c.blockScopes(job.scopes, alternative), delayMs);
        const pooled = this.#c.pooled(job.scopes);
        // Through a pool, only the endpoint that answered is blocked and the batch is decided again at
        // once: another endpoint with quota takes it, or the loop holds its lane until the block ends
        // (so the batches behind it keep their order). It is charged again like any send.
        if (pooled && alternative !== undefined) notBefore = now;
        else if (!pooled) await queue.holdLane(job.lane, now + delayMs);
      } else {
        delayMs = backoffDelay(options.backoff, attempt, options.random);
      }
      const counts = failure.kind !== 'retry-after';
      const retryAt = notBefore ?? now + delayMs;
      if (
        await queue.release(lease, now, {
          notBefore: retryAt,
          failed: true,
          error: text,
          attempt: counts,
        })
      ) {
        this.#c.emit('retry', {
          ids,
          priority: job.priority,
          jobId: job.id,
          attempt,
          delayMs: retryAt - now,
          error,
        });
      }
    } finally {
      this.#c.keeper.release(lease);
    }
  }
}
