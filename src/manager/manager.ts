import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { MemoryBackend } from '../backends/memory/index.js';
import type {
  Backend,
  DeadLetter,
  DeadLetterFilter,
  Job,
  JobInput,
  MessageRecord,
  MessageStatus,
  Priority,
  QueueStats,
  QueueStore,
} from '../backends/types.js';
import { type Clock, systemClock } from '../core/clock.js';
import { type Duration, parseDuration } from '../core/duration.js';
import { DuplicateMessageError, InvalidArgumentError } from '../core/errors.js';
import type { Decision, LimitRequest, RuleStats } from '../core/types.js';
import { inspectPlan, type Plan } from '../engine/plan.js';
import { RateLimiter } from '../limiter/rate-limiter.js';
import { backoffDelay } from './backoff.js';
import {
  assertPriority,
  batchOptionScopes,
  type ManagerMessage,
  type PreparedBatch,
  prepareBatch,
  type RateLimitManagerOptions,
  type ResolvedOptions,
  resolveOptions,
} from './options.js';
import { classifyFailure, errorText } from './sender-errors.js';
import { TickWriter } from './tick-writer.js';

/** Quota of the manager: messages left in the current window, and the capacity. */
export interface Quota {
  remaining: number;
  total: number;
}

export interface ManagerStats extends QueueStats {
  quota: Quota;
  /** Batches this process has in its sender right now. */
  sending: number;
}

/** Events a manager emits. `error` is emitted only when someone listens (background failures). */
export interface ManagerEvents {
  sent: [{ ids: string[]; priority: Priority; jobId: string; attempt: number }];
  enqueued: [{ ids: string[]; priority: Priority }];
  dropped: [{ ids: string[]; priority: Priority; status: MessageStatus; error?: string }];
  retry: [
    { ids: string[]; priority: Priority; jobId: string; attempt: number; delayMs: number; error: unknown },
  ];
  'dead-lettered': [{ ids: string[]; priority: Priority; jobId: string; attempts: number; error: unknown }];
  recovered: [{ count: number }];
  error: [Error];
}

export interface StopOptions {
  /** Keep delivering until nothing is queued, retrying or in flight. @default false */
  drain?: boolean;
  /**
   * Give up waiting after this long (clock time): batches still in the sender are left leased (another
   * process or the next start redelivers them once the lease expires). @default no limit
   */
  timeout?: Duration;
}

interface InFlight<T> {
  job: Job<T>;
  leaseUntil: number;
  done: Promise<void>;
}

/**
 * Sends batches through your sender without breaking the receiver's limits: what fits goes now, the rest
 * waits in a durable priority queue and goes as quota returns; failures are retried, then dead-lettered.
 *
 * Quota policy for a batch of `n` with `r` messages left of capacity `C`: `n > maxBatchFraction·C` → dropped
 * (`dropped-batch-too-large`); `r < n` → exhausted (critical and normal queued, optional dropped);
 * `r ≤ lowQuotaThreshold·C` → low (critical sent, normal queued, optional dropped); else sent — unless older
 * messages of the same or a higher priority could go first, then it is queued behind them.
 *
 * @example
 * const manager = new RateLimitManager({ sender: async (batch) => api.send(batch), capacity: 100, duration: '10m',
 *   backend: new SqliteBackend({ path: './ratekeeper.db' }) });
 * await manager.start();
 * await manager.sendOrEnqueue([{ id: 'm1', payload: 'hi' }], 'critical'); // 'passed-to-sender'
 */
export class RateLimitManager<T = unknown> extends EventEmitter<ManagerEvents> {
  readonly limiter: RateLimiter;
  readonly backend: Backend;
  readonly clock: Clock;
  /** The limiter scope of the manager's own quota. */
  readonly scope: string;
  readonly #o: ResolvedOptions<T>;
  readonly #queue: QueueStore<T>;
  readonly #quotaPlan: Plan;
  /** Queues batches; those of one tick share a write. */
  readonly #writer: TickWriter<T>;
  /** Requests of scope-less batches by size (the limiter caches their plans). */
  readonly #plainRequests = new Map<number, LimitRequest>();
  readonly #owner = randomUUID();
  readonly #inFlight = new Map<string, InFlight<T>>();
  #running = false;
  #stopping = false;
  #loop: Promise<void> | undefined;
  /** Aborted to cut the loop's sleep short; only while it sleeps (`#sleeping`), else `#kicked` is set. */
  #wake = new AbortController();
  #sleeping = false;
  #kicked = false;
  #more = false;
  #completed: string[] = [];
  #flushing: Promise<void> | undefined;
  #nextRecover = 0;
  #nextPrune = 0;
  #drainWaiters: Array<() => void> = [];
  /** The quota read shared by the callers of one tick, on asynchronous backends (Redis). */
  #quotaRead: Promise<RuleStats> | undefined;

  constructor(options: RateLimitManagerOptions<T>) {
    super();
    this.#o = resolveOptions(options);
    this.clock = options.clock ?? systemClock;
    this.backend = options.backend ?? new MemoryBackend();
    this.scope = `rk:manager:${this.#o.name}`;
    this.limiter = new RateLimiter({
      backend: this.backend,
      clock: this.clock,
      scopes: {
        ...options.scopes,
        [this.scope]: { limit: this.#o.capacity, window: this.#o.durationMs, algorithm: this.#o.algorithm },
      },
    });
    this.#queue = this.backend.queue<T>(this.#o.name);
    this.#writer = new TickWriter(this.#queue);
    this.#quotaPlan = inspectPlan([this.scope], this.limiter.rules);
  }

  /** Capacity of the manager's quota (messages per duration). */
  get capacity(): number {
    return this.#o.capacity;
  }

  /** Starts the background loop. Messages whose lease expired (a crash) are queued again first. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#stopping = false;
    this.#nextRecover = 0;
    this.#loop = this.#run();
  }

  /**
   * Stops gracefully: no new batch goes to the sender, batches in the sender finish (their outcome is
   * recorded), nothing queued is lost. With `drain`, keeps delivering until the queue is empty first.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    if (!this.#running && this.#inFlight.size === 0 && this.#completed.length === 0) return;
    // Draining needs the loop, even if the manager was never started.
    if (options.drain && !this.#running) await this.start();
    const timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout, 'timeout');
    const deadline = new AbortController();
    if (timeoutMs !== undefined) {
      this.clock.sleep(timeoutMs, deadline.signal).then(
        () => deadline.abort(),
        () => {},
      );
    }
    try {
      if (options.drain) await this.#untilDrained(deadline.signal);
      this.#stopping = true;
      this.#running = false;
      this.#wakeUp();
      await this.#loop;
      await untilOrAborted(
        Promise.allSettled([...this.#inFlight.values()].map((f) => f.done)),
        deadline.signal,
      );
      await this.#flush();
    } finally {
      deadline.abort();
      this.#loop = undefined;
    }
  }

  /**
   * Offers a batch. It is sent, queued or dropped as a whole (see the class description) and the
   * returned status applies to every message of it.
   * @param priority `'critical' | 'normal' | 'optional'` @default 'normal'
   * @param options.scopes limiter scopes every message of the batch passes through (e.g. `'chat:42'`).
   * @throws InvalidArgumentError for an empty batch, a message without id, duplicate ids in the batch or an
   *   unknown priority; DuplicateMessageError when an id is already queued, in flight, retrying or dead-lettered.
   */
  async sendOrEnqueue(
    batch: ReadonlyArray<ManagerMessage<T>>,
    priority: Priority = 'normal',
    options: { scopes?: string | readonly string[] } = {},
  ): Promise<MessageStatus> {
    assertPriority(priority);
    const prepared = prepareBatch<T>(batch, batchOptionScopes(options?.scopes));
    const now = this.clock.now();
    const n = prepared.messages.length;
    const { capacity } = this.#o;
    if (n > this.#o.maxBatchFraction * capacity) {
      return this.#drop(prepared.ids, priority, now, 'dropped-batch-too-large');
    }
    const quota = this.#quota(now);
    const { remaining } = quota instanceof Promise ? await quota : quota;
    const state =
      remaining < n ? 'exhausted' : remaining <= this.#o.lowQuotaThreshold * capacity ? 'low' : 'available';
    const sendNow = state === 'available' || (state === 'low' && priority === 'critical');
    if (!sendNow) {
      return priority === 'optional'
        ? this.#drop(prepared.ids, priority, now, 'dropped')
        : this.#enqueue(prepared, priority, now);
    }
    if (
      this.#stopping ||
      this.#inFlight.size >= this.#o.concurrency ||
      (await this.#olderWaiting(priority, now))
    ) {
      return this.#enqueue(prepared, priority, now);
    }
    const decision = await this.limiter.tryAcquire(this.#request(prepared.scopes, prepared.costs, n));
    if (!decision.allowed) {
      if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
        return this.#drop(prepared.ids, priority, now, 'dropped-batch-too-large', capacityText(decision));
      }
      if (decision.blockedBy?.scope === this.scope && priority === 'optional') {
        return this.#drop(prepared.ids, priority, now, 'dropped');
      }
      return this.#enqueue(prepared, priority, now);
    }
    let job: Job<T>;
    try {
      [job] = (await this.#queue.add([this.#input(prepared, priority)], now, {
        owner: this.#owner,
        until: now + this.#o.leaseMs,
      })) as [Job<T>];
    } catch (error) {
      await this.#refund(prepared).catch((e: unknown) => this.#fault(e));
      if (error instanceof DuplicateMessageError) throw error;
      return this.#drop(prepared.ids, priority, now, 'dropped-failed-to-enqueue', errorText(error));
    }
    this.#dispatch(job, now);
    return 'passed-to-sender';
  }

  /** The manager's quota now. */
  async getQuota(): Promise<Quota> {
    return { remaining: await this.#remaining(this.clock.now()), total: this.#o.capacity };
  }

  /** The latest status of a message, or undefined if unknown (or pruned after `retention`). */
  async getMessageStatus(id: string): Promise<MessageStatus | undefined> {
    return (await this.getMessageRecord(id))?.status;
  }

  /** Everything known about a message: status, attempts, last error, timestamps. */
  async getMessageRecord(id: string): Promise<MessageRecord | undefined> {
    if (typeof id !== 'string') throw new InvalidArgumentError('id', 'a message id string', id);
    return this.#queue.getRecord(id);
  }

  /** Queued per priority, retrying, in flight, dead-lettered, lifetime counters and the quota. */
  async stats(): Promise<ManagerStats> {
    const now = this.clock.now();
    const [queue, remaining] = await Promise.all([this.#queue.stats(now), this.#remaining(now)]);
    return { ...queue, quota: { remaining, total: this.#o.capacity }, sending: this.#inFlight.size };
  }

  /** Dead-lettered batches matching the filter, oldest failure first. */
  async deadLetters(filter: DeadLetterFilter = {}, limit = 100): Promise<DeadLetter<T>[]> {
    return this.#queue.deadLetters(filter, limit);
  }

  /** Queues matching dead letters again with fresh attempts. Returns how many batches. */
  async replayDeadLetters(filter: DeadLetterFilter = {}): Promise<number> {
    const count = await this.#queue.replay(filter, this.clock.now());
    if (count > 0) this.#kick();
    return count;
  }

  /** Deletes matching dead letters. Returns how many batches. */
  async purgeDeadLetters(filter: DeadLetterFilter = {}): Promise<number> {
    return this.#queue.purge(filter);
  }

  // ---- internals -------------------------------------------------------------------------------

  /** The manager's own rule now (synchronously on memory and SQLite). */
  #quota(now: number): RuleStats | Promise<RuleStats> {
    if (this.#quotaRead) return this.#quotaRead;
    const stats = this.limiter.backend.limits.inspect(this.#quotaPlan, now);
    if (!(stats instanceof Promise)) return stats[0]!;
    // Asynchronous backend: the reads of one tick share one round trip. No answer changes: a charge made
    // in the same tick is sent after the read anyway (decisions are coalesced on the next tick).
    this.#quotaRead = stats.then((list) => list[0]!);
    process.nextTick(() => {
      this.#quotaRead = undefined;
    });
    return this.#quotaRead;
  }

  async #remaining(now: number): Promise<number> {
    return (await this.#quota(now)).remaining;
  }

  /** The limiter request of a batch: its size on the manager's quota, each scope's share on that scope. */
  #request(
    scopes: readonly string[],
    costs: Readonly<Record<string, number>> | undefined,
    size: number,
  ): LimitRequest {
    if (scopes.length === 0) {
      let request = this.#plainRequests.get(size);
      if (!request) {
        request = { scopes: this.scope, cost: size };
        if (this.#plainRequests.size < 1024) this.#plainRequests.set(size, request);
      }
      return request;
    }
    const shares: Record<string, number> = {};
    for (const scope of scopes) shares[scope] = costs?.[scope] ?? size;
    return { scopes: [this.scope, ...scopes], cost: size, costs: shares };
  }

  #input(batch: PreparedBatch<T>, priority: Priority): JobInput<T> {
    return { priority, lane: batch.lane, scopes: batch.scopes, costs: batch.costs, messages: batch.messages };
  }

  /**
   * Whether queued messages of this priority or a more urgent one could go first. When the queue cannot
   * tell (its store is unreachable), assume they could: the batch is then queued, or answered
   * `dropped-failed-to-enqueue` if the queue write fails too, instead of rejecting the offer.
   */
  async #olderWaiting(priority: Priority, now: number): Promise<boolean> {
    try {
      return await this.#queue.hasClaimable(priority, now);
    } catch {
      return true;
    }
  }

  /** Gives back the quota charged for a batch that could not be recorded. */
  async #refund(batch: PreparedBatch<T>): Promise<void> {
    await this.limiter.adjust({ scopes: this.scope, delta: -batch.messages.length });
    for (const scope of batch.scopes)
      await this.limiter.adjust({ scopes: scope, delta: -batch.costs[scope]! });
  }

  async #enqueue(batch: PreparedBatch<T>, priority: Priority, now: number): Promise<MessageStatus> {
    try {
      await this.#writer.add(this.#input(batch, priority), now);
    } catch (error) {
      if (error instanceof DuplicateMessageError) throw error;
      return this.#drop(batch.ids, priority, now, 'dropped-failed-to-enqueue', errorText(error));
    }
    if (this.listenerCount('enqueued') > 0) this.emit('enqueued', { ids: batch.ids, priority });
    this.#more = true;
    return 'enqueued';
  }

  async #drop(
    ids: string[],
    priority: Priority,
    now: number,
    status: MessageStatus,
    error?: string,
  ): Promise<MessageStatus> {
    try {
      await this.#queue.record(ids, status, priority, now, error);
    } catch (recordError) {
      this.#fault(recordError);
    }
    this.emit('dropped', { ids, priority, status, ...(error === undefined ? {} : { error }) });
    return status;
  }

  #dispatch(job: Job<T>, now: number): void {
    const attempt = job.attempts + 1;
    const batch = job.messages.slice();
    const entry = { job, leaseUntil: now + this.#o.leaseMs } as InFlight<T>;
    this.#inFlight.set(job.id, entry);
    entry.done = (async () => {
      try {
        await this.#o.sender(batch, { jobId: job.id, priority: job.priority, attempt, scopes: job.scopes });
        this.#completed.push(job.id);
        if (this.listenerCount('sent') > 0) {
          this.emit('sent', { ids: batch.map((m) => m.id), priority: job.priority, jobId: job.id, attempt });
        }
        this.#scheduleFlush();
      } catch (error) {
        await this.#failed(job, error).catch((e) => this.#fault(e));
      } finally {
        this.#inFlight.delete(job.id);
        this.#kick();
      }
    })();
  }

  async #failed(job: Job<T>, error: unknown): Promise<void> {
    const now = this.clock.now();
    const attempt = job.attempts + 1;
    const ids = job.messages.map((m) => m.id);
    const failure = classifyFailure(error, now);
    const text = errorText(error);
    if (
      failure.kind === 'permanent' ||
      (failure.kind === 'transient' && attempt >= this.#o.backoff.maxAttempts)
    ) {
      await this.#queue.bury(job.id, now, text);
      this.emit('dead-lettered', { ids, priority: job.priority, jobId: job.id, attempts: attempt, error });
      return;
    }
    let delayMs: number;
    if (failure.kind === 'retry-after') {
      delayMs = failure.delayMs;
      const scopes = job.scopes.length > 0 ? job.scopes : [this.scope];
      await this.limiter.block(scopes, delayMs);
      await this.#queue.holdLane(job.lane, now + delayMs);
    } else {
      delayMs = backoffDelay(this.#o.backoff, attempt, this.#o.random);
    }
    await this.#queue.release(job.id, now, { notBefore: now + delayMs, failed: true, error: text });
    this.emit('retry', { ids, priority: job.priority, jobId: job.id, attempt, delayMs, error });
    this.#more = true;
  }

  #scheduleFlush(): void {
    if (this.#flushing) return;
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#flushing = undefined;
      return this.#flush();
    });
  }

  /** Records delivered batches in one store call. */
  async #flush(): Promise<void> {
    if (this.#completed.length === 0) return;
    const ids = this.#completed;
    this.#completed = [];
    try {
      await this.#queue.complete(ids, this.clock.now());
    } catch (error) {
      // Not recorded: the leases expire and the batches are delivered again (at-least-once).
      this.#fault(error);
    }
  }

  /** Work may be waiting (a slot freed, a batch was queued): run a pass soon if the last one found any. */
  #kick(): void {
    if (this.#running && this.#more) this.#wakeUp();
  }

  #wakeUp(): void {
    this.#kicked = true;
    if (this.#sleeping) this.#wake.abort(WAKE);
  }

  #fault(error: unknown): void {
    if (this.listenerCount('error') > 0) {
      this.emit('error', error instanceof Error ? error : new Error(errorText(error)));
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        await this.#pass();
      } catch (error) {
        this.#fault(error);
      }
      if (!this.#running) break;
      if (this.#drainWaiters.length > 0) await this.#checkDrained();
      if (this.#kicked) {
        // Kicked during the pass (a slot freed, work arrived): go again, after letting I/O and timers run.
        this.#kicked = false;
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      this.#sleeping = true;
      await this.clock.sleep(this.#o.sleepMs, this.#wake.signal).catch(() => {});
      this.#sleeping = false;
      this.#kicked = false;
      if (this.#wake.signal.aborted) this.#wake = new AbortController();
    }
  }

  async #pass(): Promise<void> {
    const now = this.clock.now();
    await this.#housekeeping(now);
    this.#more = false;
    const free = this.#o.concurrency - this.#inFlight.size;
    if (free <= 0) {
      await this.#flush();
      this.#more = true;
      return;
    }
    // Record deliveries first (it keeps finished batches from piling up ahead of the line); the quota
    // read goes out right behind it, so on Redis both share one round trip.
    const flushed = this.#flush();
    const [, { remaining, blockedMs }] = await Promise.all([flushed, this.#quota(now)]);
    if (blockedMs > 0) return;
    const jobs = await this.#queue.claim({
      now,
      owner: this.#owner,
      leaseUntil: now + this.#o.leaseMs,
      maxJobs: free,
      remaining,
      reserve: this.#o.lowQuotaThreshold * this.#o.capacity,
    });
    if (jobs.length === 0) return;
    this.#more = true;
    const decisions = await this.limiter.tryAcquireMany(
      jobs.map((job) => this.#request(job.scopes, job.costs, job.messages.length)),
    );
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i]!;
      const decision = decisions[i]!;
      if (decision.allowed) {
        this.#dispatch(job, now);
        continue;
      }
      if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
        await this.#queue.bury(job.id, now, capacityText(decision));
        this.emit('dead-lettered', {
          ids: job.messages.map((m) => m.id),
          priority: job.priority,
          jobId: job.id,
          attempts: job.attempts,
          error: new Error(capacityText(decision)),
        });
        continue;
      }
      if (decision.blockedBy && decision.blockedBy.scope !== this.scope) {
        await this.#queue.holdLane(job.lane, now + decision.retryAfterMs);
      }
      await this.#queue.release(job.id, now, { notBefore: now, failed: false });
    }
  }

  async #housekeeping(now: number): Promise<void> {
    if (now >= this.#nextRecover) {
      this.#nextRecover = now + Math.max(this.#o.sleepMs, this.#o.leaseMs / 4);
      const count = await this.#queue.recover(now);
      if (count > 0) {
        this.#more = true;
        this.emit('recovered', { count });
      }
      const renew: string[] = [];
      const until = now + this.#o.leaseMs;
      for (const entry of this.#inFlight.values()) {
        if (entry.leaseUntil - now < this.#o.leaseMs / 2) {
          renew.push(entry.job.id);
          entry.leaseUntil = until;
        }
      }
      if (renew.length > 0) await this.#queue.extend(renew, this.#owner, until);
    }
    if (now >= this.#nextPrune) {
      this.#nextPrune = now + Math.max(this.#o.sleepMs, Math.min(60_000, this.#o.retentionMs / 10));
      await this.#queue.prune(now - this.#o.retentionMs);
    }
  }

  #untilDrained(signal: AbortSignal): Promise<void> {
    return untilOrAborted(
      new Promise<void>((resolve) => {
        this.#drainWaiters.push(resolve);
        this.#kickAlways();
      }),
      signal,
    );
  }

  #kickAlways(): void {
    this.#wakeUp();
  }

  async #checkDrained(): Promise<void> {
    const stats = await this.#queue.stats(this.clock.now());
    const waiting =
      stats.queued.critical + stats.queued.normal + stats.queued.optional + stats.retrying + stats.inFlight;
    if (waiting === 0 && this.#inFlight.size === 0) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

const WAKE = Object.freeze(new Error('wake'));

function capacityText(decision: Decision): string {
  const b = decision.blockedBy;
  return `batch exceeds the capacity of rule ${b?.rule} on scope ${b?.scope}; it can never be sent`;
}

function untilOrAborted(promise: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    promise.then(done, done);
  });
}
