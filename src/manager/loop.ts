import type { Job, LeaseRef, QueueStore } from '../backends/types.js';
import type { Clock } from '../core/clock.js';
import type { Decision, LimitRequest, RuleStats } from '../core/types.js';
import type { RateLimiter } from '../limiter/rate-limiter.js';
import type { Dispatcher, Emit } from './dispatcher.js';
import { errorText } from './failure.js';
import type { ResolvedOptions } from './options.js';

export interface LoopContext<T> {
  queue: QueueStore<T>;
  limiter: RateLimiter;
  clock: Clock;
  options: ResolvedOptions<T>;
  dispatcher: Dispatcher<T>;
  /** The manager's quota scope. */
  quotaScope: string;
  /** A fresh lease token (one per claim). */
  token(): string;
  quota(now: number): RuleStats | Promise<RuleStats>;
  /** Renews this process's own leases now (the lease keeper's `renew`). */
  renewLeases(): Promise<void>;
  /** Reads the quota behind the decisions just asked for, for the next pass (see ManagerQuota#prefetch). */
  prefetchQuota(now: number): void;
  /** The read kept by `prefetchQuota` if still good at `now` (see ManagerQuota#takeAhead). */
  quotaAhead(now: number): Promise<RuleStats> | undefined;
  request(job: Job<T>): LimitRequest;
  emit: Emit;
  fault(error: unknown): void;
}

/**
 * The background loop: every `sleep` (and at once when a slot frees or work arrives) it recovers expired
 * leases and claims what the quota allows (old records are pruned on a timer of their own), critical first, FIFO within a priority.
 * A claimed job the limiter refuses goes back to its place (its lane held when a scope of its own refused
 * it); one that can never fit goes to dead letters. A store failure in the middle of a pass never strands
 * the jobs it claimed: those not yet handed to the sender are released, and nothing is charged for them.
 */
export class DeliveryLoop<T> {
  readonly #c: LoopContext<T>;
  #running = false;
  #promise: Promise<void> | undefined;
  /** Aborted to cut the loop's sleep short; only while it sleeps (`#sleeping`), else `#kicked` is set. */
  #wake = new AbortController();
  #sleeping = false;
  /** The coming pass follows the last one at once (see the quota read-ahead in {@link #pass}). */
  #followsAtOnce = false;
  #kicked = false;
  /** The last pass found work: a freed slot should start another one. */
  #more = false;
  #nextRecover = 0;
  /** Aborted to end the prune timer's sleep on stop. */
  #pruneStop = new AbortController();
  #pruning: Promise<void> | undefined;
  #drainWaiters: Array<() => void> = [];

  constructor(context: LoopContext<T>) {
    this.#c = context;
  }

  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#nextRecover = 0;
    this.#promise = this.#run();
    this.#pruneStop = new AbortController();
    this.#pruning = this.#pruneLoop(this.#pruneStop.signal);
  }

  /** Ends the loop after its current pass; resolves when it has ended. */
  stop(): Promise<void> {
    this.#running = false;
    this.wakeUp();
    this.#pruneStop.abort();
    return Promise.all([this.#promise, this.#pruning]).then(() => {});
  }

  /** Work was queued: a pass should look soon. */
  workArrived(): void {
    this.#more = true;
  }

  /** A slot freed or work arrived: run a pass soon if the last one found any. */
  kick(): void {
    if (this.#running && this.#more) this.wakeUp();
  }

  wakeUp(): void {
    this.#kicked = true;
    if (this.#sleeping) this.#wake.abort(WAKE);
  }

  /** Resolves when nothing is queued, retrying or in flight (checked after each pass). */
  untilDrained(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.#drainWaiters.push(resolve);
      this.wakeUp();
    });
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        await this.#pass();
      } catch (error) {
        this.#c.fault(error);
      }
      if (!this.#running) break;
      if (this.#drainWaiters.length > 0) await this.#checkDrained().catch((e: unknown) => this.#c.fault(e));
      if (this.#kicked) {
        // Kicked during the pass (a slot freed, work arrived): go again, after letting I/O and timers run.
        this.#kicked = false;
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.#followsAtOnce = true;
        continue;
      }
      this.#sleeping = true;
      await this.#c.clock.sleep(this.#c.options.sleepMs, this.#wake.signal).catch(() => {});
      this.#sleeping = false;
      this.#kicked = false;
      if (this.#wake.signal.aborted) this.#wake = new AbortController();
    }
  }

  async #pass(): Promise<void> {
    const { queue, options, dispatcher, limiter } = this.#c;
    const now = this.#c.clock.now();
    await this.#housekeeping(now);
    this.#more = false;
    const free = dispatcher.free;
    if (free <= 0) {
      await dispatcher.flush();
      this.#more = true;
      return;
    }
    // Record deliveries first (it keeps finished batches from piling up ahead of the line). The quota
    // read goes out right behind it, so on Redis both share one round trip; when the last pass read the
    // quota behind its decisions (and nothing was charged since), the claim goes right behind the
    // completion write instead, and Redis runs the two in order in one round trip.
    const flushed = dispatcher.flush();
    // The read taken behind the last pass's decisions serves only a pass that follows it at once (the
    // loop was kicked during it): after a sleep or a wait for a free slot it may be stale by other
    // processes' charges, and a claim on it could let a normal batch into the low-quota reserve or a
    // small batch past an older one the decision then refuses.
    const taken = this.#c.quotaAhead(now);
    const ahead = this.#followsAtOnce ? taken : undefined;
    this.#followsAtOnce = false;
    let quota: RuleStats | undefined;
    if (ahead) quota = await ahead.catch(() => undefined);
    if (quota === undefined || quota.blockedMs > 0)
      [, quota] = await Promise.all([flushed, this.#c.quota(now)]);
    const { remaining, blockedMs } = quota;
    if (blockedMs > 0) return;
    // The claim's slots are taken right before it, not at pass start (direct offers during the flush and
    // the quota read still find them), and every slot a claimed job does not fill is given back at once:
    // a direct offer made while the claim or the decision is awaited can never overshoot `concurrency`.
    // At most what was free before the flush: a batch that finished since is not recorded yet, and its
    // slot waits for the next pass (so unrecorded deliveries stay within one pass's worth).
    let held = dispatcher.reserveUpTo(free);
    if (held === 0) {
      this.#more = true;
      return;
    }
    try {
      const owner = this.#c.token();
      const [jobs] = await Promise.all([
        queue.claim({
          now,
          owner,
          leaseUntil: now + options.leaseMs,
          maxJobs: held,
          remaining,
          reserve: options.lowQuotaThreshold * options.capacity,
        }),
        flushed,
      ]);
      dispatcher.unreserve(held - jobs.length);
      held = jobs.length;
      if (jobs.length === 0) return;
      this.#more = true;
      // Each job's request is built on its own: one that cannot be (its scopes name two endpoint pools
      // since the configuration changed) goes to the dead letters alone, the others are decided.
      const ready: Array<Job<T>> = [];
      const requests: LimitRequest[] = [];
      const broken: Array<{ job: Job<T>; error: unknown }> = [];
      for (const job of jobs) {
        try {
          requests.push(this.#c.request(job));
          ready.push(job);
        } catch (error) {
          broken.push({ job, error });
        }
      }
      if (broken.length > 0) {
        dispatcher.unreserve(broken.length);
        held -= broken.length;
      }
      let decisions: Decision[];
      try {
        const decided = limiter.tryAcquireMany(requests);
        // The next pass's quota, read behind these decisions (in their round trip on Redis).
        if (ready.length > 0) this.#c.prefetchQuota(now);
        decisions = await decided;
      } catch (error) {
        // Nothing was charged: give every decidable job back (the broken ones still go to dead letters).
        dispatcher.unreserve(held);
        held = 0;
        await Promise.all(ready.map((job) => this.#giveBack({ jobId: job.id, owner }, now)));
        await this.#buryBroken(broken, owner, now);
        throw error;
      }
      // Hand the admitted jobs to the sender (each on its reserved slot) before anything else can fail.
      const refused: number[] = [];
      for (let i = 0; i < ready.length; i++) {
        const decision = decisions[i]!;
        held--;
        if (decision.allowed) {
          dispatcher.dispatch(ready[i]!, { jobId: ready[i]!.id, owner }, true, decision.alternative);
        } else {
          dispatcher.unreserve();
          refused.push(i);
        }
      }
      for (const i of refused) {
        const job = ready[i]!;
        const lease = { jobId: job.id, owner };
        try {
          await this.#refused(job, lease, decisions[i]!, now);
        } catch (error) {
          this.#c.fault(error);
          await this.#giveBack(lease, now);
        }
      }
      await this.#buryBroken(broken, owner, now);
    } finally {
      if (held > 0) dispatcher.unreserve(held);
    }
  }

  async #refused(job: Job<T>, lease: LeaseRef, decision: Decision, now: number): Promise<void> {
    const { queue } = this.#c;
    if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
      const error = new Error(capacityText(decision));
      await this.#bury(job, lease, now, error.message, error);
      return;
    }
    if (decision.blockedBy && decision.blockedBy.scope !== this.#c.quotaScope) {
      await queue.holdLane(job.lane, now + decision.retryAfterMs);
    }
    await queue.release(lease, now, { notBefore: now, failed: false });
  }

  /** Dead-letters a claimed job with `reason`, and says so when the store took it (the lease was ours). */
  async #bury(job: Job<T>, lease: LeaseRef, now: number, reason: string, error: unknown): Promise<void> {
    if (!(await this.#c.queue.bury(lease, now, reason))) return;
    this.#c.emit('dead-lettered', {
      ids: job.messages.map((m) => m.id),
      priority: job.priority,
      jobId: job.id,
      attempts: job.attempts,
      error,
    });
  }

  /** Dead-letters claimed jobs whose limit request cannot be built, with the reason. */
  async #buryBroken(broken: ReadonlyArray<{ job: Job<T>; error: unknown }>, owner: string, now: number) {
    for (const { job, error } of broken) {
      const lease = { jobId: job.id, owner };
      try {
        await this.#bury(job, lease, now, `its limit request cannot be built: ${errorText(error)}`, error);
      } catch (storeError) {
        this.#c.fault(storeError);
        await this.#giveBack(lease, now);
      }
    }
  }

  /** Returns a claimed job untouched; if even that fails, its lease expires and it is recovered. */
  async #giveBack(lease: LeaseRef, now: number): Promise<void> {
    try {
      await this.#c.queue.release(lease, now, { notBefore: now, failed: false });
    } catch (error) {
      this.#c.fault(error);
    }
  }

  async #housekeeping(now: number): Promise<void> {
    const { queue, options } = this.#c;
    if (now >= this.#nextRecover) {
      // Expired leases are looked for often (a crashed process's batches go again within about a lease).
      this.#nextRecover = now + Math.max(options.sleepMs, Math.min(1000, options.leaseMs / 4));
      // Our own leases first: after a stall past the lease (a blocked event loop, a paused VM) the
      // batches this process holds — in the sender, or delivered and not recorded yet — look expired,
      // and recovering them here would send them a second time.
      try {
        await this.#c.renewLeases();
      } catch (error) {
        // Not knowing whether our own leases were renewed, this round recovers nothing (the next does).
        this.#c.fault(error);
        return;
      }
      const count = await queue.recover(now);
      if (count > 0) {
        this.#more = true;
        this.#c.emit('recovered', { count });
      }
    }
  }

  /**
   * Prunes old records and ended lane holds on its own timer (at start, then every tenth of `retention`,
   * at most a minute), never inside a pass: a pass's latency never includes a prune, however long the
   * prune takes (on Redis it is a walk of bounded steps, which other scripts interleave with).
   */
  async #pruneLoop(signal: AbortSignal): Promise<void> {
    const { queue, options, clock } = this.#c;
    const every = Math.max(options.sleepMs, Math.min(60_000, options.retentionMs / 10));
    while (!signal.aborted) {
      const now = clock.now();
      try {
        await queue.prune(now - options.retentionMs, now);
      } catch (error) {
        this.#c.fault(error);
      }
      if (signal.aborted) return;
      await clock.sleep(every, signal).catch(() => {});
    }
  }

  async #checkDrained(): Promise<void> {
    const stats = await this.#c.queue.stats(this.#c.clock.now());
    const waiting =
      stats.queued.critical + stats.queued.normal + stats.queued.optional + stats.retrying + stats.inFlight;
    if (waiting === 0 && this.#c.dispatcher.sending === 0 && this.#c.dispatcher.unrecorded === 0) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

const WAKE = Object.freeze(new Error('wake'));

export function capacityText(decision: Decision): string {
  const b = decision.blockedBy;
  return `batch exceeds the capacity of rule ${b?.rule} on scope ${b?.scope}; it can never be sent`;
}
