// Past 400 lines on purpose: the slots, claims, calls and re-plans of one participant share its state and
// its stop protocol (deadline, cancel, grace); apart, each piece would need all of it passed in.
import type { Job, LeaseRef, QueueStore } from '../backends/types.js';
import { chooseEndpoint, endpointRequest } from './endpoint.js';
import { type ParticipantContext, remainingOf } from './handler.js';
import { decideWorkers } from './scaling.js';
import { endpointScope, typeScope } from './settings.js';
import { beat, heartbeatMs, leave } from './shares.js';
import { mutate } from './store/index.js';
import type { RunRecord, RunSettings } from './types.js';

/** The reason a call is given up when the grace after a stop ran out. */
const ABANDONED = Symbol('abandoned');

type StopReason = 'done' | 'deadline' | 'cancel' | 'error';

/**
 * This process's share of a run: per type as many worker slots as the latest plan says, each claiming one
 * job at a time under its own lease, taking quota from an endpoint, calling the handler and completing,
 * retrying or burying it. Re-plans every `replanEvery`; stops claiming at the deadline (a job starts only
 * if it can finish by then) or on cancel; returns in-flight jobs it cannot finish.
 */
export class Participant<T> {
  readonly #ctx: ParticipantContext<T>;
  readonly #id: string;
  readonly #settings: RunSettings;
  readonly #deadlineAt: number;
  readonly #target: Record<string, number> = {};
  readonly #active: Record<string, number> = {};
  readonly #done = new Set<string>();
  readonly #held = new Map<string, { queue: QueueStore<T>; lease: LeaseRef }>();
  readonly #observed: Record<string, { total: number; n: number }> = {};
  /** Aborted on stop: waits end, nothing new is claimed. */
  readonly #soft = new AbortController();
  /** Aborted when the grace after a stop ran out: handlers are told to give up. */
  readonly #hard = new AbortController();
  readonly #ended = new AbortController();
  /** Rejects with {@link ABANDONED} when the grace ran out (see `#call`). */
  readonly #abandoned = new Promise<never>((_, reject) => {
    this.#hard.signal.addEventListener('abort', () => reject(ABANDONED), { once: true });
  });
  #stop: StopReason | undefined;
  /** The first error of a slot or loop (the backend failed): the run stops and `serve` rejects with it. */
  #failure: { error: unknown } | undefined;
  #seq = 0;
  #slots: Promise<void>[] = [];
  #finish!: () => void;
  readonly #finished = new Promise<void>((resolve) => {
    this.#finish = resolve;
  });

  constructor(ctx: ParticipantContext<T>, record: RunRecord) {
    this.#abandoned.catch(() => {});
    this.#ctx = ctx;
    this.#id = record.id;
    this.#settings = record.input;
    this.#deadlineAt = record.deadlineAt;
    // No slot before the first heartbeat: the share of the plan this process may run comes from the record.
    for (const type of Object.keys(this.#settings.types)) {
      this.#target[type] = 0;
      this.#active[type] = 0;
    }
  }

  /** Serves the run until it stops; resolves with the record as this participant left it. */
  async serve(): Promise<RunRecord | undefined> {
    const loops = [this.#replanLoop(), this.#leaseLoop(), this.#heartbeatLoop(), this.#deadlineTimer()].map(
      (loop) => loop.catch((error: unknown) => this.#fail(error)),
    );
    try {
      this.#markDone(await this.#remaining());
      await this.#heartbeat();
    } catch (error) {
      this.#fail(error);
    }
    this.#check();
    await this.#finished;
    this.#ended.abort();
    await Promise.allSettled(loops);
    if (this.#failure) {
      await Promise.allSettled(this.#slots);
      throw this.#failure.error;
    }
    return this.#close();
  }

  /** Stops claiming (graceful cancel from this process). */
  stop(reason: StopReason = 'cancel'): void {
    if (this.#stop) return;
    this.#stop = reason;
    this.#soft.abort();
    void this.#ctx.clock.sleep(this.#settings.graceMs, this.#ended.signal).then(
      () => this.#hard.abort(),
      () => {},
    );
    this.#check();
  }

  #fail(error: unknown): void {
    this.#failure ??= { error };
    this.stop('error');
  }

  #spawn(): void {
    if (this.#stop) return;
    for (const type of Object.keys(this.#target)) {
      while (!this.#done.has(type) && this.#active[type]! < this.#target[type]!) {
        this.#active[type]!++;
        const slot = this.#slot(type)
          .catch((error: unknown) => this.#fail(error))
          .finally(() => {
            this.#active[type]!--;
            this.#check();
          });
        this.#slots.push(slot);
      }
    }
  }

  /** Ends the participant when no slot runs and nothing more can start. */
  #check(): void {
    const busy = Object.values(this.#active).some((n) => n > 0);
    if (busy) return;
    const now = this.#ctx.clock.now();
    const idle = Object.keys(this.#settings.types).every(
      (type) => this.#done.has(type) || now > this.#latestStart(type),
    );
    if (this.#stop || idle) this.#finish();
  }

  /**
   * One worker: takes a call of quota first (primary, then overflow round-robin; when none has any, waits
   * exactly until one will), then claims the next job of its type and runs it. Quota before the job keeps
   * the backlog untouched while it waits, so jobs start in queue order and what the deadline cuts off
   * stays queued as it was. A call taken with no job to claim is refunded.
   */
  async #slot(type: string): Promise<void> {
    const { clock, limiter } = this.#ctx;
    const queue = this.#ctx.queue(type);
    const endpoints = this.#settings.types[type]!.endpoints;
    const scopes = endpoints.map((e) => endpointScope(type, e.name));
    const request = endpointRequest(typeScope(type), scopes);
    while (!this.#stop && this.#active[type]! <= this.#target[type]!) {
      let now = clock.now();
      const latestStart = this.#latestStart(type);
      if (now > latestStart) return;
      if (!(await queue.hasClaimable('optional', now))) {
        await queue.recover(now);
        if ((await remainingOf(queue, now)) === 0) {
          this.#done.add(type);
          return;
        }
        if (!(await this.#pause(Math.min(250, this.#settings.leaseMs / 4)))) return;
        continue;
      }
      const choice = await chooseEndpoint(limiter, request);
      if (choice.index < 0) {
        if (clock.now() + choice.retryAfterMs > latestStart) return;
        if (!(await this.#pause(choice.retryAfterMs))) return;
        continue;
      }
      now = clock.now();
      const owner = `${this.#ctx.owner}:${++this.#seq}`;
      let job: Job<T> | undefined;
      try {
        [job] = this.#stop
          ? []
          : await queue.claim({
              now,
              owner,
              leaseUntil: now + this.#settings.leaseMs,
              maxJobs: 1,
              remaining: 1,
              reserve: 0,
            });
      } catch (error) {
        // The store failed: the call taken for this job is given back before the run stops on the error.
        await Promise.resolve(limiter.adjust({ scopes: scopes[choice.index]!, delta: -1 })).catch(() => {});
        throw error;
      }
      if (!job) {
        await limiter.adjust({ scopes: scopes[choice.index]!, delta: -1 });
        continue;
      }
      const lease = { jobId: job.id, owner };
      this.#held.set(owner, { queue, lease });
      try {
        await this.#call(type, queue, job, lease, endpoints[choice.index]!.name);
      } finally {
        this.#held.delete(owner);
      }
    }
  }

  /**
   * The last moment a job of the type may start and still finish by the deadline: the deadline minus the
   * job time, the slower of the configured one and the mean measured so far in this process (the same job
   * time re-planning uses), so jobs that run slower than configured are not started too late.
   */
  #latestStart(type: string): number {
    const o = this.#observed[type];
    const measured = o && o.n > 0 ? Math.ceil(o.total / o.n) : 0;
    return this.#deadlineAt - Math.max(this.#settings.types[type]!.durationMs, measured);
  }

  /** Sleeps unless the run stops first. Returns false when it stopped. */
  async #pause(ms: number): Promise<boolean> {
    try {
      await this.#ctx.clock.sleep(ms, this.#soft.signal);
      return true;
    } catch {
      return false;
    }
  }

  async #call(type: string, queue: QueueStore<T>, job: Job<T>, lease: LeaseRef, endpoint: string) {
    const { clock } = this.#ctx;
    const message = job.messages[0]!;
    const started = clock.now();
    let failure: unknown;
    let ok = false;
    try {
      const call = Promise.resolve(
        this.#ctx.handler(
          { id: message.id, type, payload: message.payload },
          { endpoint, attempt: job.attempts + 1, signal: this.#hard.signal },
        ),
      );
      // A handler that ignores its signal does not hold the run past deadline + grace: its job is
      // returned at once, and whatever it does later is refused by the lease (a stale owner).
      call.catch(() => {});
      await Promise.race([call, this.#abandoned]);
      ok = true;
    } catch (error) {
      failure = error;
    }
    const now = clock.now();
    if (this.#hard.signal.aborted && failure === ABANDONED) {
      await queue.release(lease, now, { notBefore: now, failed: false });
      return;
    }
    if (ok) {
      const o = this.#observed[type] ?? { total: 0, n: 0 };
      this.#observed[type] = o;
      o.total += now - started;
      o.n++;
      const completed = (await queue.complete([lease], now)) === 1;
      if (completed)
        await this.#record((r) => {
          const perType = r.processed[type] ?? {};
          r.processed[type] = perType;
          perType[endpoint] = (perType[endpoint] ?? 0) + 1;
          r.actualFinishAt = Math.max(r.actualFinishAt ?? 0, now);
        });
      return;
    }
    if (this.#hard.signal.aborted) {
      await queue.release(lease, now, { notBefore: now, failed: false });
      return;
    }
    const error = failure instanceof Error ? failure.message : String(failure);
    if (job.attempts + 1 >= this.#settings.maxAttempts) {
      if (await queue.bury(lease, now, error))
        await this.#record((r) => {
          r.failures++;
          r.deadLettered++;
        });
    } else if (await queue.release(lease, now, { notBefore: now, failed: true, error })) {
      await this.#record((r) => {
        r.failures++;
      });
    }
  }

  async #record(change: (record: RunRecord) => void): Promise<RunRecord | undefined> {
    return mutate(this.#ctx.store, this.#id, (r) => {
      change(r);
      return true;
    });
  }

  /** Types with nothing left and no slot of this process serving them are done. */
  #markDone(remaining: Record<string, number>): void {
    for (const [type, n] of Object.entries(remaining))
      if (n === 0 && this.#active[type] === 0) this.#done.add(type);
  }

  async #remaining(): Promise<Record<string, number>> {
    const now = this.#ctx.clock.now();
    const remaining: Record<string, number> = {};
    for (const type of Object.keys(this.#settings.types)) {
      const queue = this.#ctx.queue(type);
      await queue.recover(now);
      remaining[type] = await remainingOf(queue, now);
    }
    return remaining;
  }

  async #replanLoop(): Promise<void> {
    const { clock, store } = this.#ctx;
    for (;;) {
      try {
        await clock.sleep(this.#settings.replanEveryMs, this.#ended.signal);
      } catch {
        return;
      }
      const record = await store.get(this.#id);
      if (record?.cancelRequested) this.stop('cancel');
      if (this.#stop) continue;
      const remaining = await this.#remaining();
      this.#markDone(remaining);
      const observedMs: Record<string, number> = {};
      for (const [type, o] of Object.entries(this.#observed)) observedMs[type] = o.total / o.n;
      const decision = decideWorkers({
        settings: this.#settings,
        remaining,
        timeLeftMs: this.#deadlineAt - clock.now(),
        observedMs,
      });
      await this.#heartbeat((r) => {
        r.workers = { ...decision.workers };
        r.replans++;
      });
    }
  }

  /**
   * Writes this process's heartbeat and takes its share of the plan's workers (see `shares.ts`): never more
   * than the other live processes leave, so together they stay within the plan. Sees a cancel asked from
   * another process. `change` is applied in the same write (a re-plan's new workers).
   */
  async #heartbeat(change?: (record: RunRecord) => void): Promise<void> {
    const now = this.#ctx.clock.now();
    let target: Record<string, number> | undefined;
    const written = await this.#record((r) => {
      change?.(r);
      target = beat(r, this.#ctx.owner, now, this.#active);
    });
    if (written?.cancelRequested) this.stop('cancel');
    if (target) Object.assign(this.#target, target);
    this.#spawn();
    this.#check();
  }

  async #heartbeatLoop(): Promise<void> {
    for (;;) {
      try {
        await this.#ctx.clock.sleep(heartbeatMs(this.#settings), this.#ended.signal);
      } catch {
        return;
      }
      if (!this.#stop) await this.#heartbeat();
    }
  }

  async #leaseLoop(): Promise<void> {
    const { clock } = this.#ctx;
    for (;;) {
      try {
        await clock.sleep(this.#settings.leaseMs / 3, this.#ended.signal);
      } catch {
        return;
      }
      const until = clock.now() + this.#settings.leaseMs;
      const byQueue = new Map<QueueStore<T>, LeaseRef[]>();
      for (const { queue, lease } of this.#held.values()) {
        const list = byQueue.get(queue) ?? [];
        list.push(lease);
        byQueue.set(queue, list);
      }
      for (const [queue, leases] of byQueue) await queue.extend(leases, until);
    }
  }

  async #deadlineTimer(): Promise<void> {
    const { clock } = this.#ctx;
    try {
      await clock.sleep(Math.max(0, this.#deadlineAt - clock.now()), this.#ended.signal);
    } catch {
      return;
    }
    this.stop('deadline');
  }

  /** Leaves the run: leftovers from the queues, the final status when the run is over. */
  async #close(): Promise<RunRecord | undefined> {
    await Promise.allSettled(this.#slots);
    const remaining = await this.#remaining();
    const now = this.#ctx.clock.now();
    return mutate(this.#ctx.store, this.#id, (r) => {
      r.participants = Math.max(0, r.participants - 1);
      leave(r, this.#ctx.owner);
      r.leftovers = remaining;
      // This participant stops only when the run is over for everyone: the backlog is empty, the deadline
      // leaves no time for another job, or the run was cancelled.
      if (r.status === 'running') {
        r.status = r.cancelRequested || this.#stop === 'cancel' ? 'cancelled' : 'finished';
        r.finishedAt = now;
      }
      return true;
    });
  }
}
