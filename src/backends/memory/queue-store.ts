// Past 400 lines on purpose: one QueueStore is one set of invariants (lines, leases, records, holds, counters)
// that every method keeps together; its parts that stand alone live beside it (line.ts: the FIFO lines).
import { DuplicateMessageError, InvalidArgumentError } from '../../core/errors.js';
import { matchesDeadLetter } from '../filter.js';
import {
  type ClaimQuery,
  type DeadLetter,
  type DeadLetterFilter,
  type Job,
  type JobInput,
  type LeaseRef,
  type MessageRecord,
  type MessageStatus,
  PRIORITIES,
  PRIORITY_RANK,
  type Priority,
  type QueueCounters,
  type QueueStats,
  type QueueStore,
} from '../types.js';
import { Line } from './line.js';

/** What a message's status is read from: its job while it lives and after delivery, or a drop record. */
interface Holder {
  /** `done`: delivered (the job is gone); `final`: a drop record. Other states: the job is live. */
  state: 'ready' | 'leased' | 'dead' | 'done' | 'final';
  status: MessageStatus;
  priority: Priority;
  attempts: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
}

interface Entry<T> extends Job<T>, Holder {
  seq: number;
  inLine: boolean;
  owner: string | null;
  leaseUntil: number;
  failedAt: number;
}

const NO_MESSAGES: readonly never[] = Object.freeze([]);

function isLive(holder: Holder | undefined): boolean {
  return holder !== undefined && holder.state !== 'done' && holder.state !== 'final';
}

/** Finished records (delivered or dropped) a memory queue keeps at most, besides `retention`. */
export const DEFAULT_MAX_FINISHED_RECORDS = 100_000;

export interface MemoryQueueOptions {
  /**
   * Most records of finished messages kept; the oldest go first when there are more (the manager's
   * `retention` prunes by age too). Live messages are never pruned. @default 100_000
   */
  maxFinishedRecords?: number;
}

/** The `maxFinishedRecords` bound, validated. @throws InvalidArgumentError */
export function resolveMaxFinished(options: MemoryQueueOptions): number {
  const max = options.maxFinishedRecords ?? DEFAULT_MAX_FINISHED_RECORDS;
  if (!(Number.isInteger(max) && max >= 0)) {
    throw new InvalidArgumentError('maxFinishedRecords', 'an integer >= 0', max);
  }
  return max;
}

/**
 * A queue in this process's memory: nothing survives a restart. Jobs keep their place in their
 * priority's line while leased or waiting for a retry, so a job released after a refusal is not overtaken
 * by later jobs of its lane. A job carries the status of its messages (they share it), so a status change
 * is one write whatever the batch size; after delivery only the status stays (the payloads are let go).
 */
export class MemoryQueueStore<T = unknown> implements QueueStore<T> {
  #seq = 0;
  /** Waiting and leased jobs per priority, in arrival order. */
  readonly #lines: Record<Priority, Line<Entry<T>>> = {
    critical: new Line(),
    normal: new Line(),
    optional: new Line(),
  };
  readonly #leased = new Map<string, Entry<T>>();
  readonly #dead = new Map<string, Entry<T>>();
  /** Message id → its job, or its drop record. */
  readonly #records = new Map<string, Holder>();
  readonly #holds = new Map<string, number>();
  readonly #counters: QueueCounters = { delivered: 0, dropped: 0, deadLettered: 0, retried: 0, stale: 0 };
  readonly #maxFinished: number;
  /** Records of finished messages (`done` or `final` holders) in `#records`. */
  #finished = 0;

  constructor(options: MemoryQueueOptions = {}) {
    this.#maxFinished = resolveMaxFinished(options);
  }

  add(jobs: ReadonlyArray<JobInput<T>>, now: number, lease?: { owner: string; until: number }): Job<T>[] {
    this.#assertNew(jobs);
    const out: Job<T>[] = new Array(jobs.length);
    for (let i = 0; i < jobs.length; i++) {
      const input = jobs[i]!;
      const seq = ++this.#seq;
      const entry: Entry<T> = {
        id: String(seq),
        seq,
        priority: input.priority,
        lane: input.lane,
        scopes: input.scopes,
        costs: input.costs,
        messages: input.messages,
        attempts: 0,
        enqueuedAt: now,
        notBefore: now,
        lastError: null,
        state: lease ? 'leased' : 'ready',
        status: lease ? 'passed-to-sender' : 'enqueued',
        createdAt: now,
        updatedAt: now,
        deliveredAt: null,
        owner: lease?.owner ?? null,
        leaseUntil: lease?.until ?? 0,
        failedAt: 0,
        inLine: false,
      };
      if (lease) this.#leased.set(entry.id, entry);
      else this.#lines[entry.priority].push(entry);
      for (const { id } of input.messages) {
        if (this.#records.has(id)) {
          // A finished record of a reused id: the new job replaces it (and moves it to the newest end).
          this.#records.delete(id);
          this.#finished--;
        }
        this.#records.set(id, entry);
      }
      out[i] = toJob(entry);
    }
    return out;
  }

  /** Records a drop status; ids of live jobs keep theirs. */
  record(
    ids: readonly string[],
    status: MessageStatus,
    priority: Priority,
    now: number,
    error?: string,
  ): void {
    let shared: Holder | undefined;
    for (const id of ids) {
      const before = this.#records.get(id);
      if (isLive(before)) continue;
      if (before) {
        this.#records.delete(id);
        this.#records.set(id, {
          state: 'final',
          status,
          priority,
          attempts: before.attempts,
          lastError: error ?? null,
          createdAt: before.createdAt,
          updatedAt: now,
          deliveredAt: null,
        });
        continue;
      }
      shared ??= {
        state: 'final',
        status,
        priority,
        attempts: 0,
        lastError: error ?? null,
        createdAt: now,
        updatedAt: now,
        deliveredAt: null,
      };
      this.#records.set(id, shared);
      this.#finished++;
    }
    if (status.startsWith('dropped')) this.#counters.dropped += ids.length;
    this.#trimFinished();
  }

  hasClaimable(priority: Priority, now: number): boolean {
    for (const p of PRIORITIES) {
      if (PRIORITY_RANK[p] > PRIORITY_RANK[priority]) break;
      let found = false;
      this.#lines[p].scan((entry) => {
        found = this.#claimable(entry, now);
        return !found;
      });
      if (found) return true;
    }
    return false;
  }

  claim(query: ClaimQuery): Job<T>[] {
    if (!(query.maxJobs > 0)) return [];
    this.#endHolds(query.now);
    const claimed: Job<T>[] = [];
    let left = query.remaining;
    for (const priority of PRIORITIES) {
      if (claimed.length >= query.maxJobs) break;
      this.#lines[priority].scan((entry) => {
        if (claimed.length >= query.maxJobs) return false;
        if (priority !== 'critical' && left <= query.reserve) return false;
        if (!this.#claimable(entry, query.now)) return true;
        const size = entry.messages.length;
        if (size > left) return false;
        left -= size;
        entry.state = 'leased';
        entry.owner = query.owner;
        entry.leaseUntil = query.leaseUntil;
        entry.status = 'passed-to-sender';
        entry.updatedAt = query.now;
        this.#leased.set(entry.id, entry);
        claimed.push(toJob(entry));
        return true;
      });
    }
    return claimed;
  }

  complete(leases: readonly LeaseRef[], now: number): number {
    let done = 0;
    for (const lease of leases) {
      const entry = this.#held(lease);
      if (!entry) continue;
      this.#leased.delete(entry.id);
      this.#lines[entry.priority].remove(entry);
      entry.state = 'done';
      entry.status = 'passed-to-sender';
      entry.updatedAt = now;
      entry.deliveredAt = now;
      this.#counters.delivered += entry.messages.length;
      this.#finished += entry.messages.length;
      entry.messages = NO_MESSAGES;
      done++;
    }
    this.#trimFinished();
    return done;
  }

  completeMessages(lease: LeaseRef, messageIds: readonly string[], now: number): boolean {
    const entry = this.#held(lease);
    if (!entry) return false;
    const delivered = new Set(messageIds);
    const kept = entry.messages.filter((m) => !delivered.has(m.id));
    const gone = entry.messages.length - kept.length;
    if (gone === 0) return true;
    const record: Holder = {
      state: 'done',
      status: 'passed-to-sender',
      priority: entry.priority,
      attempts: entry.attempts,
      lastError: entry.lastError,
      createdAt: entry.createdAt,
      updatedAt: now,
      deliveredAt: now,
    };
    for (const m of entry.messages) {
      if (!delivered.has(m.id)) continue;
      this.#records.delete(m.id);
      this.#records.set(m.id, record);
    }
    entry.messages = kept;
    if (entry.costs) entry.costs = cappedCosts(entry.costs, kept.length);
    this.#counters.delivered += gone;
    this.#finished += gone;
    this.#trimFinished();
    return true;
  }

  splitMessages(lease: LeaseRef, messageIds: readonly string[]): string | null {
    const entry = this.#held(lease);
    if (!entry) return null;
    const named = new Set(messageIds);
    const moved = entry.messages.filter((m) => named.has(m.id));
    if (moved.length === 0 || moved.length === entry.messages.length) return entry.id;
    const kept = entry.messages.filter((m) => !named.has(m.id));
    const seq = ++this.#seq;
    // Not in line (inLine false): released, it joins the end of its line, like a job added leased.
    const part: Entry<T> = {
      ...entry,
      id: String(seq),
      seq,
      messages: moved,
      costs: entry.costs && cappedCosts(entry.costs, moved.length),
      inLine: false,
    };
    entry.messages = kept;
    if (entry.costs) entry.costs = cappedCosts(entry.costs, kept.length);
    this.#leased.set(part.id, part);
    for (const m of moved) this.#records.set(m.id, part);
    return part.id;
  }

  release(
    lease: LeaseRef,
    now: number,
    options: { notBefore: number; failed: boolean; error?: string; attempt?: boolean },
  ): boolean {
    const entry = this.#held(lease);
    if (!entry) return false;
    this.#requeue(entry, now, options);
    return true;
  }

  bury(lease: LeaseRef, now: number, error: string): boolean {
    const entry = this.#held(lease);
    if (!entry) return false;
    this.#leased.delete(entry.id);
    this.#lines[entry.priority].remove(entry);
    entry.state = 'dead';
    entry.owner = null;
    entry.attempts++;
    entry.lastError = error;
    entry.failedAt = now;
    entry.status = 'dead-lettered';
    entry.updatedAt = now;
    this.#dead.set(entry.id, entry);
    this.#counters.deadLettered += entry.messages.length;
    return true;
  }

  extend(leases: readonly LeaseRef[], until: number): LeaseRef[] {
    const lost: LeaseRef[] = [];
    for (const lease of leases) {
      const entry = this.#held(lease);
      if (!entry) lost.push(lease);
      else if (entry.leaseUntil < until) entry.leaseUntil = until;
    }
    return lost;
  }

  recover(now: number): number {
    let count = 0;
    for (const entry of [...this.#leased.values()]) {
      if (entry.leaseUntil > now) continue;
      this.#requeue(entry, now, { notBefore: now, failed: false });
      count++;
    }
    return count;
  }

  holdLane(lane: string, until: number): void {
    if ((this.#holds.get(lane) ?? 0) < until) this.#holds.set(lane, until);
  }

  getRecord(id: string): MessageRecord | undefined {
    const h = this.#records.get(id);
    if (!h) return undefined;
    return {
      id,
      status: h.status,
      priority: h.priority,
      attempts: h.attempts,
      lastError: h.lastError,
      createdAt: h.createdAt,
      updatedAt: h.updatedAt,
      deliveredAt: h.deliveredAt,
    };
  }

  stats(now: number): QueueStats {
    const queued: Record<Priority, number> = { critical: 0, normal: 0, optional: 0 };
    let retrying = 0;
    for (const priority of PRIORITIES) {
      for (const entry of this.#lines[priority].toArray()) {
        if (entry.state !== 'ready') continue;
        if (entry.attempts > 0 && entry.notBefore > now) retrying += entry.messages.length;
        else queued[priority] += entry.messages.length;
      }
    }
    let inFlight = 0;
    for (const entry of this.#leased.values()) inFlight += entry.messages.length;
    let deadLettered = 0;
    for (const entry of this.#dead.values()) deadLettered += entry.messages.length;
    return { queued, retrying, inFlight, deadLettered, counters: { ...this.#counters } };
  }

  deadLetters(filter: DeadLetterFilter = {}, limit = 100): DeadLetter<T>[] {
    const out: DeadLetter<T>[] = [];
    for (const entry of [...this.#dead.values()].sort((a, b) => a.failedAt - b.failedAt || a.seq - b.seq)) {
      if (out.length >= limit) break;
      if (matchesDeadLetter(entry, filter)) out.push({ ...toJob(entry), failedAt: entry.failedAt });
    }
    return out;
  }

  replay(filter: DeadLetterFilter, now: number): number {
    let count = 0;
    // In dead-letter order (oldest failure first), as deadLetters lists them, whatever order they died in.
    for (const entry of [...this.#dead.values()].sort((a, b) => a.failedAt - b.failedAt || a.seq - b.seq)) {
      if (!matchesDeadLetter(entry, filter)) continue;
      this.#dead.delete(entry.id);
      entry.state = 'ready';
      entry.attempts = 0;
      entry.notBefore = now;
      entry.status = 'enqueued';
      entry.updatedAt = now;
      this.#lines[entry.priority].push(entry);
      count++;
    }
    return count;
  }

  purge(filter: DeadLetterFilter): number {
    let count = 0;
    for (const entry of [...this.#dead.values()]) {
      if (!matchesDeadLetter(entry, filter)) continue;
      this.#dead.delete(entry.id);
      for (const { id } of entry.messages) this.#records.delete(id);
      count++;
    }
    return count;
  }

  prune(before: number, now: number): number {
    let count = 0;
    for (const [id, holder] of this.#records) {
      if (holder.updatedAt >= before || isLive(holder)) continue;
      this.#records.delete(id);
      this.#finished--;
      count++;
    }
    this.#endHolds(now);
    return count;
  }

  /** The entry when `lease` is still its lease; otherwise counts a stale operation. */
  #held(lease: LeaseRef): Entry<T> | undefined {
    const entry = this.#leased.get(lease.jobId);
    if (entry && entry.owner === lease.owner) return entry;
    this.#counters.stale++;
    return undefined;
  }

  #requeue(
    entry: Entry<T>,
    now: number,
    options: { notBefore: number; failed: boolean; error?: string; attempt?: boolean },
  ): void {
    this.#leased.delete(entry.id);
    entry.state = 'ready';
    entry.owner = null;
    entry.notBefore = options.notBefore;
    if (options.failed) {
      if (options.attempt !== false) entry.attempts++;
      entry.lastError = options.error ?? null;
      this.#counters.retried++;
    }
    // A job added already leased (direct send) joins the end of its line: retries keep no place.
    if (!entry.inLine) this.#lines[entry.priority].push(entry);
    entry.status = options.failed ? 'retrying' : 'enqueued';
    entry.updatedAt = now;
  }

  /** Deletes the oldest finished records past `maxFinishedRecords` (insertion order is age order). */
  #trimFinished(): void {
    if (this.#finished <= this.#maxFinished) return;
    for (const [id, holder] of this.#records) {
      if (this.#finished <= this.#maxFinished) break;
      if (isLive(holder)) continue;
      this.#records.delete(id);
      this.#finished--;
    }
  }

  /** Throws DuplicateMessageError if any id is live or repeated. */
  #assertNew(jobs: ReadonlyArray<JobInput<T>>): void {
    if (jobs.length === 1 && jobs[0]!.messages.length === 1) {
      const id = jobs[0]!.messages[0]!.id;
      if (isLive(this.#records.get(id))) throw new DuplicateMessageError([id]);
      return;
    }
    const seen = new Set<string>();
    const taken: string[] = [];
    for (const job of jobs) {
      for (const { id } of job.messages) {
        if (isLive(this.#records.get(id)) || seen.has(id)) taken.push(id);
        seen.add(id);
      }
    }
    if (taken.length > 0) throw new DuplicateMessageError(taken);
  }

  #claimable(entry: Entry<T>, now: number): boolean {
    if (entry.state !== 'ready' || entry.notBefore > now) return false;
    if (this.#holds.size === 0) return true;
    const until = this.#holds.get(entry.lane);
    return until === undefined || until <= now;
  }

  /** Ends every hold that is over at `now` (a claim does this first, as SQLite and Redis do). */
  #endHolds(now: number): void {
    if (this.#holds.size === 0) return;
    for (const [lane, until] of this.#holds) if (until <= now) this.#holds.delete(lane);
  }
}

/** Per-scope costs of a job that has `left` messages now: no share above what is left (exact for a batch
 * to one scope, never less than the real share otherwise). */
function cappedCosts(costs: Readonly<Record<string, number>>, left: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [scope, cost] of Object.entries(costs)) out[scope] = Math.min(cost, left);
  return out;
}
function toJob<T>(entry: Entry<T>): Job<T> {
  return {
    id: entry.id,
    priority: entry.priority,
    lane: entry.lane,
    scopes: entry.scopes,
    costs: entry.costs,
    messages: entry.messages,
    attempts: entry.attempts,
    enqueuedAt: entry.enqueuedAt,
    notBefore: entry.notBefore,
    lastError: entry.lastError,
  };
}
