// Past ~400 lines (478): the facade's public verbs plus the two offer paths of sendOrEnqueue (one per
// backend kind: awaited store calls, or one savepoint of a loop turn's transaction on SQLite), which share
// the manager's private state. Next split: the offer paths into an admission part of their own.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { MemoryBackend } from '../backends/memory/index.js';
import { checkQueueStore } from '../backends/shape.js';
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
import type { Clock } from '../core/clock.js';
import { type Duration, parseDuration } from '../core/duration.js';
import { DuplicateMessageError, InvalidArgumentError } from '../core/errors.js';
import type { Decision, RuleStats } from '../core/types.js';
import { RateLimiter } from '../limiter/rate-limiter.js';
import { Dispatcher, type Emit } from './dispatcher.js';
import { EventReporter, type ManagerEvents, stderrLogger } from './events.js';
import { errorText } from './failure.js';
import { LeaseKeeper } from './lease-keeper.js';
import { capacityText, DeliveryLoop } from './loop.js';
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
import { type Admission, admit } from './policy.js';
import { ManagerQuota } from './quota.js';
import { TickWriter } from './tick-writer.js';
import { TurnBatch } from './turn-batch.js';

export { ListenerError, type ManagerEvents } from './events.js';

/** Quota of the manager: messages left in the current window, and the capacity. */
export interface Quota {
  remaining: number;
  total: number;
}

/** What offering a batch came to: its status (queued, dropped), or a job leased to this process to send now. */
type Offer<T> = MessageStatus | { job: Job<T>; owner: string; alternative: number | undefined };

export interface ManagerStats extends QueueStats {
  quota: Quota;
  /** Batches this process has in its sender right now. */
  sending: number;
}

export interface StopOptions {
  /** Keep delivering until nothing is queued, retrying or in flight. @default false */
  drain?: boolean;
  /**
   * Give up waiting after this long (clock time), for everything `stop` waits for (the drain, the loop's
   * last pass, batches in the sender): batches still in the sender are left leased (another process or
   * the next start redelivers them once the lease expires). @default no limit
   */
  timeout?: Duration;
}

/**
 * Sends batches through your sender without breaking the receiver's limits: what fits goes now, the rest
 * waits in a durable priority queue and goes as quota returns; failures are retried, then dead-lettered.
 *
 * Quota policy for a batch of `n` with `r` messages left of capacity `C` (see {@link admit}):
 * `n > maxBatchFraction·C` → dropped (`dropped-batch-too-large`); `r < n` → exhausted (critical and normal
 * queued, optional dropped); `r ≤ lowQuotaThreshold·C` → low (critical sent, normal queued, optional
 * dropped); else sent — unless older messages of the same or a higher priority could go first, then it
 * is queued behind them.
 *
 * The class is a facade over its parts: the admission policy (`policy.ts`, pure), the dispatcher
 * (sender, outcomes, the concurrency cap), the delivery loop and the lease keeper.
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
  readonly #quota: ManagerQuota;
  /** Emits events (isolating listeners) and reports background failures. */
  readonly #events: EventReporter;
  /** Queues batches; those of one tick share a write. */
  readonly #writer: TickWriter<T>;
  /** On backends with `atomically` (SQLite): offers of one loop turn decided and leased in one commit. */
  readonly #turn: TurnBatch | undefined;
  readonly #keeper: LeaseKeeper;
  readonly #dispatcher: Dispatcher<T>;
  readonly #loop: DeliveryLoop<T>;
  /** This instance's id; each lease it takes is `${id}.${n}`. */
  readonly #instance = randomUUID();
  #leases = 0;
  #stopping = false;

  constructor(options: RateLimitManagerOptions<T>) {
    super({ captureRejections: true });
    this.#o = resolveOptions(options);
    this.#events = new EventReporter(this, options.logger ?? stderrLogger(), this.#o.name);
    this.clock = this.#o.clock;
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
    this.#queue = checkQueueStore<T>(this.backend.queue<T>(this.#o.name), 'backend.queue()');
    this.#writer = new TickWriter(this.#queue);
    const atomically = this.backend.atomically?.bind(this.backend);
    this.#turn = atomically ? new TurnBatch(atomically) : undefined;
    this.#quota = new ManagerQuota(this.limiter, this.scope, this.#o.pools);
    const emit = this.#events.emit.bind(this.#events) as Emit;
    const fault = (error: unknown) => this.#events.fault(error);
    this.#keeper = new LeaseKeeper({
      queue: this.#queue as QueueStore<unknown>,
      clock: this.clock,
      leaseMs: this.#o.leaseMs,
      onLost: (leases) => {
        this.#dispatcher.lost(leases);
        this.#events.emit('lease-lost', { jobIds: leases.map((l) => l.jobId) });
      },
      onFault: fault,
    });
    this.#dispatcher = new Dispatcher<T>({
      queue: this.#queue,
      limiter: this.limiter,
      clock: this.clock,
      options: this.#o,
      keeper: this.#keeper,
      blockScopes: (scopes, alternative) => this.#quota.blockScopes(scopes, alternative),
      pooled: (scopes) => this.#quota.poolOf(scopes) !== undefined,
      emit,
      listens: (event) => this.listenerCount(event) > 0,
      fault,
      kick: () => this.#loop.kick(),
      ...(this.#turn ? { turn: this.#turn } : {}),
    });
    this.#loop = new DeliveryLoop<T>({
      queue: this.#queue,
      limiter: this.limiter,
      clock: this.clock,
      options: this.#o,
      dispatcher: this.#dispatcher,
      quotaScope: this.scope,
      token: () => this.#token(),
      quota: (now) => this.#quota.read(now),
      renewLeases: () => this.#keeper.renew(),
      prefetchQuota: (now) => this.#quota.prefetch(now),
      quotaAhead: (now) => this.#quota.takeAhead(now, this.#o.sleepMs),
      request: (job) => this.#quota.request(job.scopes, job.costs, job.messages.length),
      emit,
      fault,
    });
  }

  /** Capacity of the manager's quota (messages per duration). */
  get capacity(): number {
    return this.#o.capacity;
  }

  /** Starts the background loop. Messages whose lease expired (a crash) are queued again first. */
  async start(): Promise<void> {
    if (this.#loop.running) return;
    this.#stopping = false;
    this.#keeper.start();
    this.#loop.start();
  }

  /**
   * Stops gracefully: no new batch goes to the sender, batches in the sender finish (their outcome is
   * recorded), nothing queued is lost. With `drain`, keeps delivering until the queue is empty first.
   * `timeout` bounds the whole wait.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    const busy = this.#dispatcher.sending > 0 || this.#dispatcher.unrecorded > 0;
    if (!this.#loop.running && !busy) {
      await this.#keeper.stop();
      return;
    }
    // Draining needs the loop, even if the manager was never started.
    if (options.drain && !this.#loop.running) await this.start();
    const timeoutMs = options.timeout === undefined ? undefined : parseDuration(options.timeout, 'timeout');
    const deadline = new AbortController();
    if (timeoutMs !== undefined) {
      this.clock.sleep(timeoutMs, deadline.signal).then(
        () => deadline.abort(),
        () => {},
      );
    }
    try {
      if (options.drain) await untilOrAborted(this.#loop.untilDrained(), deadline.signal);
      this.#stopping = true;
      await untilOrAborted(this.#loop.stop(), deadline.signal);
      await untilOrAborted(this.#dispatcher.settled(), deadline.signal);
      await untilOrAborted(this.#dispatcher.flush(), deadline.signal);
    } finally {
      deadline.abort();
      await untilOrAborted(this.#keeper.stop(), deadline.signal);
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
    this.#quota.poolOf(prepared.scopes); // at most one endpoint pool
    const now = this.clock.now();
    const n = prepared.messages.length;
    if (n > this.#o.maxBatchFraction * this.#o.capacity) {
      return this.#drop(prepared.ids, priority, now, 'dropped-batch-too-large');
    }
    if (this.#turn) return this.#offerInTurn(prepared, priority, now);
    const quota = this.#quota.read(now);
    const { remaining } = quota instanceof Promise ? await quota : quota;
    // Offers admitted but not charged yet count as spent: concurrent offers read before any of them charges.
    const admission = admit(n, remaining - this.#quota.pending, priority, this.#o);
    if (admission === 'drop') return this.#drop(prepared.ids, priority, now, 'dropped');
    if (admission !== 'send') return this.#enqueue(prepared, priority, now);
    // A slot is taken before anything is awaited, so concurrent offers never overshoot `concurrency`.
    if (this.#stopping || !this.#dispatcher.reserve()) return this.#enqueue(prepared, priority, now);
    let dispatched = false;
    this.#quota.pending += n;
    try {
      const offer = await this.#offer(prepared, priority, now);
      if (typeof offer !== 'string') dispatched = this.#send(offer);
      return dispatched ? 'passed-to-sender' : (offer as MessageStatus);
    } finally {
      this.#quota.pending -= n;
      if (!dispatched) this.#dispatcher.unreserve();
    }
  }

  /** Hands a leased job to the dispatcher (its slot is reserved). */
  #send(offer: Exclude<Offer<T>, MessageStatus>): true {
    this.#dispatcher.dispatch(
      offer.job,
      { jobId: offer.job.id, owner: offer.owner },
      true,
      offer.alternative,
    );
    return true;
  }

  /** The offer of a batch holding a dispatch slot: queued or dropped (its status), or leased to send. */
  async #offer(prepared: PreparedBatch<T>, priority: Priority, now: number): Promise<Offer<T>> {
    if (await this.#olderWaiting(priority, now)) return this.#enqueue(prepared, priority, now);
    const decision = await this.limiter.tryAcquire(
      this.#quota.request(prepared.scopes, prepared.costs, prepared.messages.length),
    );
    if (!decision.allowed) return this.#refused(prepared, priority, now, decision);
    this.#quota.charged();
    const owner = this.#token();
    let job: Job<T>;
    try {
      [job] = (await this.#queue.add([this.#input(prepared, priority)], now, {
        owner,
        until: now + this.#o.leaseMs,
      })) as [Job<T>];
    } catch (error) {
      await this.#quota.refund(prepared, decision.alternative).catch((e: unknown) => this.#events.fault(e));
      if (error instanceof DuplicateMessageError) throw error;
      return this.#drop(prepared.ids, priority, now, 'dropped-failed-to-enqueue', errorText(error));
    }
    return { job, owner, alternative: decision.alternative };
  }

  /**
   * The offer of {@link sendOrEnqueue} on a backend with `atomically` (SQLite): the quota read, the
   * admission, the dispatch slot, the older-work check, the decision and the leased job in one nested
   * transaction of this turn's commit (a failed write takes its charge back with it). Same answers as the
   * path of the other backends, one commit shared by the offers of a loop turn instead of several each.
   */
  async #offerInTurn(prepared: PreparedBatch<T>, priority: Priority, now: number): Promise<MessageStatus> {
    const n = prepared.messages.length;
    const request = this.#quota.request(prepared.scopes, prepared.costs, n);
    const input = this.#input(prepared, priority);
    const owner = this.#token();
    // A slot is taken before anything is awaited (as on the other path): concurrent offers never overshoot
    // `concurrency`, and a stop() called after this offer waits for it.
    const reserved = !this.#stopping && this.#dispatcher.reserve();
    let dispatched = false;
    try {
      let result: Admission | 'older' | Decision | { job: Job<T>; decision: Decision };
      try {
        result = await this.#turn!.run(() => {
          const admission = admit(n, (this.#quota.read(now) as RuleStats).remaining, priority, this.#o);
          if (admission !== 'send') return admission;
          if (!reserved) return 'enqueue';
          if (this.#claimableSync(priority, now)) return 'older';
          const decision = this.limiter.tryAcquireSync(request);
          if (!decision.allowed) return decision;
          this.#quota.charged(); // the next offer of this turn reads the quota after this charge
          const [job] = this.#queue.add([input], now, { owner, until: now + this.#o.leaseMs }) as [Job<T>];
          return { job, decision };
        });
      } catch (error) {
        if (error instanceof DuplicateMessageError) throw error;
        return await this.#drop(prepared.ids, priority, now, 'dropped-failed-to-enqueue', errorText(error));
      }
      if (result === 'drop') return await this.#drop(prepared.ids, priority, now, 'dropped');
      if (typeof result === 'string') return await this.#enqueue(prepared, priority, now);
      if (!('job' in result)) return await this.#refused(prepared, priority, now, result);
      dispatched = this.#send({ job: result.job, owner, alternative: result.decision.alternative });
      return 'passed-to-sender';
    } finally {
      if (reserved && !dispatched) this.#dispatcher.unreserve();
    }
  }

  /** A batch the limiter refused now: dropped when it can never fit or is optional on an empty quota, else queued. */
  #refused(
    prepared: PreparedBatch<T>,
    priority: Priority,
    now: number,
    decision: Decision,
  ): Promise<MessageStatus> {
    if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
      return this.#drop(prepared.ids, priority, now, 'dropped-batch-too-large', capacityText(decision));
    }
    if (decision.blockedBy?.scope === this.scope && priority === 'optional') {
      return this.#drop(prepared.ids, priority, now, 'dropped');
    }
    return this.#enqueue(prepared, priority, now);
  }

  /** The manager's quota now. */
  async getQuota(): Promise<Quota> {
    return { remaining: (await this.#quota.read(this.clock.now())).remaining, total: this.#o.capacity };
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
    const [queue, quota] = await Promise.all([this.#queue.stats(now), this.#quota.read(now)]);
    return {
      ...queue,
      quota: { remaining: quota.remaining, total: this.#o.capacity },
      sending: this.#dispatcher.sending,
    };
  }

  /** Dead-lettered batches matching the filter, oldest failure first. */
  async deadLetters(filter: DeadLetterFilter = {}, limit = 100): Promise<DeadLetter<T>[]> {
    return this.#queue.deadLetters(filter, limit);
  }

  /** Queues matching dead letters again with fresh attempts. Returns how many batches. */
  async replayDeadLetters(filter: DeadLetterFilter = {}): Promise<number> {
    const count = await this.#queue.replay(filter, this.clock.now());
    if (count > 0) {
      this.#loop.workArrived();
      this.#loop.wakeUp();
    }
    return count;
  }

  /** Deletes matching dead letters. Returns how many batches. */
  async purgeDeadLetters(filter: DeadLetterFilter = {}): Promise<number> {
    return this.#queue.purge(filter);
  }

  // ---- internals -------------------------------------------------------------------------------

  #token(): string {
    return `${this.#instance}.${++this.#leases}`;
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

  /** {@link #olderWaiting} inside a turn's transaction (the store answers synchronously there). */
  #claimableSync(priority: Priority, now: number): boolean {
    try {
      return this.#queue.hasClaimable(priority, now) !== false;
    } catch {
      return true;
    }
  }

  async #enqueue(batch: PreparedBatch<T>, priority: Priority, now: number): Promise<MessageStatus> {
    try {
      await this.#writer.add(this.#input(batch, priority), now);
    } catch (error) {
      if (error instanceof DuplicateMessageError) throw error;
      return this.#drop(batch.ids, priority, now, 'dropped-failed-to-enqueue', errorText(error));
    }
    this.#events.emit('enqueued', { ids: batch.ids, priority });
    this.#loop.workArrived();
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
      this.#events.fault(recordError);
    }
    this.#events.emit('dropped', { ids, priority, status, ...(error === undefined ? {} : { error }) });
    return status;
  }
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
