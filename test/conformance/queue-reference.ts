// Past 400 lines on purpose: one plain specification of every QueueStore method, read as a whole next to
// the stores it judges; split up, it would no longer read as one model.
import type {
  ClaimQuery,
  DeadLetter,
  DeadLetterFilter,
  Job,
  JobInput,
  LeaseRef,
  MessageRecord,
  MessageStatus,
  Priority,
  QueueCounters,
  QueueStats,
  QueueStore,
} from '../../src/backends/types.js';
import { DuplicateMessageError } from '../../src/core/errors.js';

const PRIORITIES: readonly Priority[] = ['critical', 'normal', 'optional'];
const RANK: Record<Priority, number> = { critical: 0, normal: 1, optional: 2 };

interface RefJob {
  id: string;
  n: number;
  input: JobInput<unknown>;
  messages: Array<{ id: string; payload: unknown }>;
  costs: Record<string, number> | undefined;
  state: 'ready' | 'leased' | 'dead';
  /** Place in its priority's line; null when it has none (added leased, or buried). */
  place: number | null;
  owner: string | null;
  leaseUntil: number;
  attempts: number;
  lastError: string | null;
  enqueuedAt: number;
  notBefore: number;
  failedAt: number;
  status: MessageStatus;
  updatedAt: number;
}

interface RefRecord {
  status: MessageStatus;
  priority: Priority;
  attempts: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  deliveredAt: number | null;
}

/**
 * The queue's semantics as plainly as they can be written: a list of jobs, scanned in full for every
 * operation, no indexes, no caches. The model-based suite holds every real store (memory, SQLite, Redis)
 * to the answers of this one; it is a specification, not a store (it is O(n) everywhere).
 *
 * Holds: a lane is held while its hold ends after `now`; a claim (of at least one job) and prune end
 * the holds that are over, so a clock that steps back afterwards does not bring them back.
 */
export class ReferenceQueue implements QueueStore<unknown> {
  #jobs: RefJob[] = [];
  #jobSeq = 0;
  #place = 0;
  /** Message id → record of a finished message (a live one's record is its job's). */
  readonly #finished = new Map<string, RefRecord>();
  readonly #holds = new Map<string, number>();
  readonly #counters: QueueCounters = { delivered: 0, dropped: 0, deadLettered: 0, retried: 0, stale: 0 };

  #live(id: string): RefJob | undefined {
    return this.#jobs.find((j) => j.messages.some((m) => m.id === id));
  }

  add(jobs: ReadonlyArray<JobInput<unknown>>, now: number, lease?: { owner: string; until: number }): Job[] {
    const seen = new Set<string>();
    const taken: string[] = [];
    for (const job of jobs)
      for (const { id } of job.messages) {
        if (this.#live(id) || seen.has(id)) taken.push(id);
        seen.add(id);
      }
    if (taken.length > 0) throw new DuplicateMessageError(taken);
    return jobs.map((input) => {
      const n = ++this.#jobSeq;
      const job: RefJob = {
        id: String(n),
        n,
        input,
        messages: [...input.messages],
        costs: input.costs ? { ...input.costs } : undefined,
        state: lease ? 'leased' : 'ready',
        place: lease ? null : ++this.#place,
        owner: lease?.owner ?? null,
        leaseUntil: lease?.until ?? 0,
        attempts: 0,
        lastError: null,
        enqueuedAt: now,
        notBefore: now,
        failedAt: 0,
        status: lease ? 'passed-to-sender' : 'enqueued',
        updatedAt: now,
      };
      for (const { id } of input.messages) this.#finished.delete(id);
      this.#jobs.push(job);
      return toJob(job);
    });
  }

  record(
    ids: readonly string[],
    status: MessageStatus,
    priority: Priority,
    now: number,
    error?: string,
  ): void {
    for (const id of ids) {
      if (this.#live(id)) continue;
      const before = this.#finished.get(id);
      this.#finished.delete(id);
      this.#finished.set(id, {
        status,
        priority,
        attempts: before?.attempts ?? 0,
        lastError: error ?? null,
        createdAt: before?.createdAt ?? now,
        updatedAt: now,
        deliveredAt: null,
      });
    }
    if (status.startsWith('dropped')) this.#counters.dropped += ids.length;
  }

  #claimable(job: RefJob, now: number): boolean {
    if (job.state !== 'ready' || job.notBefore > now) return false;
    const until = this.#holds.get(job.input.lane);
    return until === undefined || until <= now;
  }

  #line(priority: Priority): RefJob[] {
    return this.#jobs
      .filter((j) => j.input.priority === priority && j.place !== null)
      .sort((a, b) => a.place! - b.place!);
  }

  hasClaimable(priority: Priority, now: number): boolean {
    return this.#jobs.some((j) => RANK[j.input.priority] <= RANK[priority] && this.#claimable(j, now));
  }

  claim(query: ClaimQuery): Job[] {
    if (!(query.maxJobs > 0)) return [];
    this.#endHolds(query.now);
    const out: Job[] = [];
    let left = query.remaining;
    for (const priority of PRIORITIES) {
      for (const job of this.#line(priority)) {
        if (out.length >= query.maxJobs) break;
        if (priority !== 'critical' && left <= query.reserve) break;
        if (!this.#claimable(job, query.now)) continue;
        if (job.messages.length > left) break;
        left -= job.messages.length;
        job.state = 'leased';
        job.owner = query.owner;
        job.leaseUntil = query.leaseUntil;
        job.status = 'passed-to-sender';
        job.updatedAt = query.now;
        out.push(toJob(job));
      }
    }
    return out;
  }

  #held(lease: LeaseRef): RefJob | undefined {
    const job = this.#jobs.find(
      (j) => j.id === lease.jobId && j.state === 'leased' && j.owner === lease.owner,
    );
    if (!job) this.#counters.stale++;
    return job;
  }

  #deliver(job: RefJob, ids: ReadonlySet<string>, now: number): number {
    let n = 0;
    for (const m of job.messages) {
      if (!ids.has(m.id)) continue;
      this.#finished.set(m.id, {
        status: 'passed-to-sender',
        priority: job.input.priority,
        attempts: job.attempts,
        lastError: job.lastError,
        createdAt: job.enqueuedAt,
        updatedAt: now,
        deliveredAt: now,
      });
      n++;
    }
    this.#counters.delivered += n;
    return n;
  }

  complete(leases: readonly LeaseRef[], now: number): number {
    let done = 0;
    for (const lease of leases) {
      const job = this.#held(lease);
      if (!job) continue;
      this.#jobs = this.#jobs.filter((j) => j !== job);
      this.#deliver(job, new Set(job.messages.map((m) => m.id)), now);
      done++;
    }
    return done;
  }

  completeMessages(lease: LeaseRef, messageIds: readonly string[], now: number): boolean {
    const job = this.#held(lease);
    if (!job) return false;
    const ids = new Set(messageIds);
    if (this.#deliver(job, ids, now) === 0) return true;
    job.messages = job.messages.filter((m) => !ids.has(m.id));
    if (job.costs) {
      for (const scope of Object.keys(job.costs))
        job.costs[scope] = Math.min(job.costs[scope]!, job.messages.length);
    }
    return true;
  }

  splitMessages(lease: LeaseRef, messageIds: readonly string[]): string | null {
    const job = this.#held(lease);
    if (!job) return null;
    const moved = job.messages.filter((m) => messageIds.includes(m.id));
    const kept = job.messages.filter((m) => !messageIds.includes(m.id));
    if (moved.length === 0 || kept.length === 0) return job.id;
    const cap = (costs: Record<string, number> | undefined, n: number) =>
      costs && Object.fromEntries(Object.entries(costs).map(([scope, cost]) => [scope, Math.min(cost, n)]));
    const n = ++this.#jobSeq;
    // A job of its own, leased like the job, with no place in line (it gets one when released).
    this.#jobs.push({
      ...job,
      id: String(n),
      n,
      messages: moved,
      costs: cap(job.costs, moved.length),
      place: null,
    });
    job.messages = kept;
    job.costs = cap(job.costs, kept.length);
    return String(n);
  }

  #requeue(
    job: RefJob,
    now: number,
    notBefore: number,
    failed: boolean,
    error: string | null,
    attempt = true,
  ): void {
    job.state = 'ready';
    job.owner = null;
    job.notBefore = notBefore;
    if (failed) {
      if (attempt) job.attempts++;
      job.lastError = error;
      this.#counters.retried++;
    }
    if (job.place === null) job.place = ++this.#place;
    job.status = failed ? 'retrying' : 'enqueued';
    job.updatedAt = now;
  }

  release(
    lease: LeaseRef,
    now: number,
    options: { notBefore: number; failed: boolean; error?: string; attempt?: boolean },
  ): boolean {
    const job = this.#held(lease);
    if (!job) return false;
    this.#requeue(
      job,
      now,
      options.notBefore,
      options.failed,
      options.error ?? null,
      options.attempt !== false,
    );
    return true;
  }

  bury(lease: LeaseRef, now: number, error: string): boolean {
    const job = this.#held(lease);
    if (!job) return false;
    job.state = 'dead';
    job.owner = null;
    job.place = null;
    job.attempts++;
    job.lastError = error;
    job.failedAt = now;
    job.status = 'dead-lettered';
    job.updatedAt = now;
    this.#counters.deadLettered += job.messages.length;
    return true;
  }

  extend(leases: readonly LeaseRef[], until: number): LeaseRef[] {
    const lost: LeaseRef[] = [];
    for (const lease of leases) {
      const job = this.#held(lease);
      if (!job) lost.push(lease);
      else job.leaseUntil = Math.max(job.leaseUntil, until);
    }
    return lost;
  }

  recover(now: number): number {
    const expired = this.#jobs
      .filter((j) => j.state === 'leased' && j.leaseUntil <= now)
      .sort((a, b) => a.n - b.n);
    for (const job of expired) this.#requeue(job, now, now, false, null);
    return expired.length;
  }

  holdLane(lane: string, until: number): void {
    this.#holds.set(lane, Math.max(this.#holds.get(lane) ?? Number.NEGATIVE_INFINITY, until));
  }

  #endHolds(now: number): void {
    for (const [lane, until] of [...this.#holds]) if (until <= now) this.#holds.delete(lane);
  }

  getRecord(id: string): MessageRecord | undefined {
    const job = this.#live(id);
    if (job) {
      return {
        id,
        status: job.status,
        priority: job.input.priority,
        attempts: job.attempts,
        lastError: job.lastError,
        createdAt: job.enqueuedAt,
        updatedAt: job.updatedAt,
        deliveredAt: null,
      };
    }
    const r = this.#finished.get(id);
    return r && { id, ...r };
  }

  stats(now: number): QueueStats {
    const queued: Record<Priority, number> = { critical: 0, normal: 0, optional: 0 };
    let retrying = 0;
    let inFlight = 0;
    let deadLettered = 0;
    for (const job of this.#jobs) {
      const n = job.messages.length;
      if (job.state === 'leased') inFlight += n;
      else if (job.state === 'dead') deadLettered += n;
      else if (job.attempts > 0 && job.notBefore > now) retrying += n;
      else queued[job.input.priority] += n;
    }
    return { queued, retrying, inFlight, deadLettered, counters: { ...this.#counters } };
  }

  #dead(filter: DeadLetterFilter): RefJob[] {
    return this.#jobs
      .filter((j) => j.state === 'dead')
      .filter((j) => !filter.jobIds || filter.jobIds.includes(j.id))
      .filter((j) => !filter.priority || j.input.priority === filter.priority)
      .filter((j) => filter.lane === undefined || j.input.lane === filter.lane)
      .filter((j) => filter.failedBefore === undefined || j.failedAt < filter.failedBefore)
      .filter((j) => !filter.messageIds || j.messages.some((m) => filter.messageIds!.includes(m.id)))
      .sort((a, b) => a.failedAt - b.failedAt || a.n - b.n);
  }

  deadLetters(filter: DeadLetterFilter = {}, limit = 100): DeadLetter[] {
    return this.#dead(filter)
      .slice(0, Math.max(0, limit))
      .map((j) => ({ ...toJob(j), failedAt: j.failedAt }));
  }

  replay(filter: DeadLetterFilter, now: number): number {
    const jobs = this.#dead(filter);
    for (const job of jobs) {
      job.state = 'ready';
      job.attempts = 0;
      job.notBefore = now;
      job.place = ++this.#place;
      job.status = 'enqueued';
      job.updatedAt = now;
    }
    return jobs.length;
  }

  purge(filter: DeadLetterFilter): number {
    const jobs = new Set(this.#dead(filter));
    this.#jobs = this.#jobs.filter((j) => !jobs.has(j));
    return jobs.size;
  }

  prune(before: number, now: number): number {
    let count = 0;
    for (const [id, r] of [...this.#finished]) {
      if (r.updatedAt < before) {
        this.#finished.delete(id);
        count++;
      }
    }
    this.#endHolds(now);
    return count;
  }
}

function toJob(job: RefJob): Job {
  return {
    id: job.id,
    priority: job.input.priority,
    lane: job.input.lane,
    scopes: job.input.scopes,
    costs: job.costs ? { ...job.costs } : undefined,
    messages: [...job.messages],
    attempts: job.attempts,
    enqueuedAt: job.enqueuedAt,
    notBefore: job.notBefore,
    lastError: job.lastError,
  };
}
