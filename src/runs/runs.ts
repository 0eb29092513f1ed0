import { randomUUID } from 'node:crypto';
import { checkQueueStore } from '../backends/shape.js';
import type { Backend, JobInput, QueueStore } from '../backends/types.js';
import { type Clock, systemClock } from '../core/clock.js';
import { type Duration, parseDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';
import { RateLimiter } from '../limiter/rate-limiter.js';
import { type RunHandler, remainingOf } from './handler.js';
import { Participant } from './participant.js';
import { decideWorkers } from './scaling.js';
import { backlogQueue, endpointScope, runSettings } from './settings.js';
import { livenessMs } from './shares.js';
import { mutate, type RunStore, runStoreOf } from './store/index.js';
import type { RunDefinition, RunRecord, RunSettings } from './types.js';

/** Options of {@link Runs}. */
export interface RunsOptions {
  /** Where backlogs, endpoint limits and run records live (Redis to share runs between processes). */
  backend: Backend;
  /** @default systemClock */
  clock?: Clock;
  /** The limiter that enforces endpoint limits (scopes `run:<type>:<endpoint>`). @default one on `backend` */
  limiter?: RateLimiter;
  /** Run records. @default the backend's own (memory, a SQLite table, Redis hashes) */
  store?: RunStore;
}

/** A run this process serves. */
export interface RunHandle {
  id: string;
  /** Resolves with the record when this process stopped serving the run. */
  done: Promise<RunRecord>;
  /** Graceful cancel: stop claiming; in-flight jobs finish (within `grace`) or return to the backlog. */
  cancel(): Promise<void>;
}

/** A job to put in a backlog. */
export interface RunJobInput<T = unknown> {
  /** Unique among the backlog's unfinished jobs. */
  id: string;
  payload: T;
}

/** A recurring run: one every `every`, each after the previous one stopped. */
export interface Recurring {
  /** Ids of the runs started so far. */
  readonly ids: readonly string[];
  /**
   * Errors of runs that failed or could not start (the backend failed), oldest first. A failed run does
   * not stop the cadence: the next one starts on time and takes what that one left.
   */
  readonly errors: readonly unknown[];
  /** Stops starting runs and cancels the current one gracefully; resolves when it stopped. */
  stop(): Promise<void>;
}

/**
 * Deadline runs (seed 004) on a ratekeeper backend: backlogs are backend queues (one per job type),
 * endpoint limits are limiter scopes, run records live in the backend.
 * @example
 * const runs = new Runs({ backend });
 * await runs.enqueue('REBALANCE_NEEDED', [{ id: 'w1', payload: { wallet: '0x…' } }]);
 * const run = await runs.start(
 *   { deadline: '3m', maxWorkers: 20, types: { REBALANCE_NEEDED: { duration: '2s', endpoints } } },
 *   async (job, { endpoint, signal }) => callApi(endpoint, job.payload, signal),
 * );
 * const result = await run.done; // processed per type and endpoint, failures, leftovers, planned vs actual
 */
export class Runs {
  readonly backend: Backend;
  readonly clock: Clock;
  readonly limiter: RateLimiter;
  readonly store: RunStore;
  readonly #owner = randomUUID();
  readonly #serving = new Map<string, Participant<unknown>>();

  constructor(options: RunsOptions) {
    if (options === null || typeof options !== 'object' || !options.backend?.limits)
      throw new InvalidArgumentError('backend', 'a ratekeeper Backend', options?.backend);
    this.backend = options.backend;
    this.clock = options.clock ?? systemClock;
    this.limiter = options.limiter ?? new RateLimiter({ backend: this.backend, clock: this.clock });
    this.store = options.store ?? runStoreOf(this.backend);
  }

  #queue<T>(backlog: string, type: string): QueueStore<T> {
    return checkQueueStore<T>(this.backend.queue<T>(backlogQueue(backlog, type)), 'backend.queue()');
  }

  /** Adds jobs of one type to a backlog, after those waiting (FIFO). */
  async enqueue<T>(type: string, jobs: ReadonlyArray<RunJobInput<T>>, backlog = 'default'): Promise<void> {
    if (!Array.isArray(jobs)) throw new InvalidArgumentError('jobs', 'an array of { id, payload }', jobs);
    const inputs: JobInput<T>[] = jobs.map((job) => ({
      priority: 'normal',
      lane: '',
      scopes: [],
      messages: [{ id: job.id, payload: job.payload }],
    }));
    if (inputs.length > 0) await this.#queue<T>(backlog, type).add(inputs, this.clock.now());
  }

  /** Jobs not done per type of a backlog (queued, retrying, in flight). */
  async backlog(types: readonly string[], backlog = 'default'): Promise<Record<string, number>> {
    const now = this.clock.now();
    const counts: Record<string, number> = {};
    for (const type of types) counts[type] = await remainingOf(this.#queue(backlog, type), now);
    return counts;
  }

  /**
   * Plans and records a run without serving it (workers join with {@link join}). Leftovers of the latest
   * run of the same backlog are at the head of its queues: the plan counts them as carried in.
   */
  async create(definition: RunDefinition): Promise<RunRecord> {
    const settings = runSettings(definition);
    const now = this.clock.now();
    const remaining = await this.backlog(Object.keys(settings.types), settings.backlog);
    // The latest run of this backlog that stopped: its leftovers wait at the head of the queues.
    const previous = (await this.store.list(100)).find(
      (r) => r.input.backlog === settings.backlog && r.status !== 'running',
    );
    const carriedIn: Record<string, number> = {};
    for (const type of Object.keys(settings.types))
      carriedIn[type] = Math.min(previous?.leftovers[type] ?? 0, remaining[type] ?? 0);
    const decision = decideWorkers({
      settings,
      remaining,
      timeLeftMs: settings.deadlineMs,
      leftovers: carriedIn,
      start: now,
    });
    const p = decision.plan!;
    // After plan(): it validates every endpoint under the run's field names (types.T.endpoints[i].limit).
    this.#define(settings);
    const record: RunRecord = {
      id: `run-${now.toString(36)}-${randomUUID().slice(0, 8)}`,
      status: 'running',
      input: settings,
      plan: p,
      workers: decision.workers,
      replans: 0,
      startedAt: now,
      deadlineAt: now + settings.deadlineMs,
      plannedFinishAt: now + p.finishMs,
      actualFinishAt: null,
      finishedAt: null,
      processed: Object.fromEntries(Object.keys(settings.types).map((t) => [t, {}])),
      failures: 0,
      deadLettered: 0,
      carriedIn,
      leftovers: remaining,
      cancelRequested: false,
      participants: 0,
      heartbeats: {},
      shares: {},
      error: null,
      version: 1,
    };
    await this.store.create(record);
    return record;
  }

  #define(settings: RunSettings): void {
    for (const [type, t] of Object.entries(settings.types))
      for (const e of t.endpoints) {
        const rule = { limit: e.limit, window: e.window, ...(e.algorithm ? { algorithm: e.algorithm } : {}) };
        this.limiter.define(endpointScope(type, e.name), e.burst ? { ...rule, burst: e.burst } : rule);
      }
  }

  /** Serves a running run from this process (several processes may serve one run on Redis). */
  async join<T>(id: string, handler: RunHandler<T>): Promise<RunHandle> {
    if (typeof handler !== 'function')
      throw new InvalidArgumentError('handler', 'an async function', handler);
    const record = await mutate(this.store, id, (r) => {
      if (r.status !== 'running' || r.cancelRequested) return false;
      r.participants++;
      r.heartbeats[`${this.#owner}:${id}`] = this.clock.now();
      return true;
    });
    if (!record) throw new InvalidArgumentError('id', 'the id of a recorded run', id);
    if (record.status !== 'running' || record.cancelRequested)
      return { id, done: Promise.resolve(record), cancel: async () => {} };
    this.#define(record.input);
    const participant = new Participant<T>(
      {
        store: this.store,
        limiter: this.limiter,
        clock: this.clock,
        owner: `${this.#owner}:${id}`,
        queue: (type) => this.#queue<T>(record.input.backlog, type),
        handler,
      },
      record,
    );
    this.#serving.set(id, participant as Participant<unknown>);
    const done = participant.serve().then(
      async (r) => {
        this.#serving.delete(id);
        return r ?? (await this.store.get(id))!;
      },
      async (error: unknown) => {
        // The backend failed under the run: record it (best effort) and reject with the cause.
        this.#serving.delete(id);
        await Promise.resolve(
          mutate(this.store, id, (r) => {
            if (r.status !== 'running') return false;
            r.status = 'failed';
            r.error = error instanceof Error ? error.message : String(error);
            r.finishedAt = this.clock.now();
            return true;
          }),
        ).catch(() => {});
        throw error;
      },
    );
    return {
      id,
      done,
      cancel: async () => {
        await this.cancel(id);
      },
    };
  }

  /** {@link create} and {@link join}: the run is served by this process from now. */
  async start<T>(definition: RunDefinition, handler: RunHandler<T>): Promise<RunHandle> {
    if (typeof handler !== 'function')
      throw new InvalidArgumentError('handler', 'an async function', handler);
    const record = await this.create(definition);
    return this.join(record.id, handler);
  }

  /**
   * Graceful cancel, seen by every process serving the run (at its next heartbeat; at once in this one).
   * A run no process serves any more (none left, or none heard from within three heartbeats: killed) is
   * marked cancelled directly.
   */
  async cancel(id: string): Promise<RunRecord | undefined> {
    const now = this.clock.now();
    const record = await mutate(this.store, id, (r) => {
      if (r.status !== 'running') return false;
      r.cancelRequested = true;
      // No process serves it any more: none left, or none heard from (all were killed).
      const live = Object.values(r.heartbeats ?? {}).filter((t) => t >= now - livenessMs(r.input));
      if (r.participants === 0 || live.length === 0) {
        r.status = 'cancelled';
        r.finishedAt = this.clock.now();
      }
      return true;
    });
    this.#serving.get(id)?.stop('cancel');
    return record;
  }

  get(id: string): Promise<RunRecord | undefined> {
    return Promise.resolve(this.store.get(id));
  }

  /** Most recent first. */
  list(limit = 20): Promise<RunRecord[]> {
    return Promise.resolve(this.store.list(limit));
  }

  /**
   * Starts a run every `every` (each after the previous one stopped), each taking the previous one's
   * leftovers first: they wait at the head of the backlog.
   */
  recurring<T>(definition: RunDefinition, handler: RunHandler<T>, every: Duration): Recurring {
    const everyMs = parseDuration(every, 'every');
    if (everyMs <= 0) throw new InvalidArgumentError('every', 'a duration > 0', every);
    runSettings(definition);
    const ids: string[] = [];
    const errors: unknown[] = [];
    const stopped = new AbortController();
    let current: RunHandle | undefined;
    const loop = (async () => {
      while (!stopped.signal.aborted) {
        const began = this.clock.now();
        try {
          current = await this.start(definition, handler);
          ids.push(current.id);
          await current.done;
        } catch (error) {
          errors.push(error);
        }
        current = undefined;
        try {
          await this.clock.sleep(Math.max(0, began + everyMs - this.clock.now()), stopped.signal);
        } catch {
          return;
        }
      }
    })();
    return {
      ids,
      errors,
      stop: async () => {
        stopped.abort();
        if (current) await current.cancel();
        await loop;
      },
    };
  }
}
