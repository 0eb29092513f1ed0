// Past 400 lines on purpose: each method is one transaction over the same tables and their invariants;
// the SQL lives in queue-sql.ts, row encoding in queue-rows.ts, the schema in schema.ts.
import type { Transaction } from 'better-sqlite3';
import { DuplicateMessageError } from '../../core/errors.js';
import { newJob } from '../jobs.js';
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
  type QueueStats,
  type QueueStore,
} from '../types.js';
import type { Connection } from './connection.js';
import {
  DEAD,
  encodeJobs,
  filterParams,
  HELD,
  LEASED,
  READY,
  toDeadLetter,
  toJob,
  toRecord,
} from './queue-rows.js';
import { type JobRange, type LeasedRow, type QueueStatements, rangeOf } from './queue-sql.js';

/** Most rows a SQLite LIMIT is asked for (maxJobs may be Infinity). */
const MAX_LIMIT = 2 ** 31 - 1;

type Releaser = (
  lease: LeaseRef,
  now: number,
  notBefore: number,
  failed: boolean,
  error: string | null,
  attempt: boolean,
) => boolean;

/**
 * A named queue in SQLite tables shared by every queue of the file (`rk_job`, `rk_record`, `rk_lane_hold`,
 * `rk_queue`). Same semantics as `MemoryQueueStore`; every method is one transaction (batches too: a claim
 * of many jobs or a completion of many is one commit), immediate when it writes, so processes sharing the
 * file never lease one job twice.
 *
 * A held lane costs claims nothing: holding marks its ready jobs as held, and the claim index only holds
 * ready ones, so 10,000 held jobs at the head of a line do not slow other lanes down.
 */
export class SqliteQueueStore<T = unknown> implements QueueStore<T> {
  readonly name: string;
  readonly #conn: Connection;
  readonly #sql: QueueStatements;
  readonly #queue: number;
  readonly #add: Transaction<
    (jobs: ReadonlyArray<JobInput<T>>, now: number, lease?: { owner: string; until: number }) => Job<T>[]
  >;
  readonly #record: Transaction<
    (
      ids: readonly string[],
      status: MessageStatus,
      priority: Priority,
      now: number,
      error: string | null,
    ) => void
  >;
  readonly #claim: Transaction<(query: ClaimQuery) => Job<T>[]>;
  readonly #complete: Transaction<(leases: readonly LeaseRef[], now: number) => number>;
  readonly #completeMessages: Transaction<
    (lease: LeaseRef, messageIds: readonly string[], now: number) => boolean
  >;
  readonly #splitMessages: Transaction<(lease: LeaseRef, messageIds: readonly string[]) => string | null>;
  readonly #release: Transaction<Releaser>;
  readonly #bury: Transaction<(lease: LeaseRef, now: number, error: string) => boolean>;
  readonly #extend: Transaction<(leases: readonly LeaseRef[], until: number) => LeaseRef[]>;
  readonly #prune: Transaction<(before: number, now: number) => number>;
  readonly #recover: Transaction<(now: number) => number>;
  readonly #holdLane: Transaction<(lane: string, until: number) => void>;
  readonly #hasClaimable: Transaction<(rank: number, now: number) => boolean>;
  readonly #stats: Transaction<(now: number) => QueueStats>;
  readonly #replay: Transaction<(filter: DeadLetterFilter, now: number) => number>;
  readonly #purge: Transaction<(filter: DeadLetterFilter) => number>;

  constructor(conn: Connection, sql: QueueStatements, name: string) {
    this.#conn = conn;
    this.#sql = sql;
    this.name = name;
    const db = conn.db;
    this.#queue = conn.run('open queue', () =>
      db
        .transaction(() => {
          sql.ensureQueue.run(name);
          return sql.queueId.get(name)!;
        })
        .immediate(),
    );
    this.#add = db.transaction((jobs, now, lease) => this.#addTxn(jobs, now, lease));
    this.#record = db.transaction((ids, status, priority, now, error) => {
      const rank = PRIORITY_RANK[priority];
      for (const id of ids) sql.record.run(this.#queue, id, status, rank, error, now, now);
      if (status.startsWith('dropped')) sql.addCounters.run(0, ids.length, 0, 0, this.#queue);
    });
    this.#claim = db.transaction((query) => this.#claimTxn(query));
    this.#complete = db.transaction((leases, now) => {
      const held = this.#heldIds(leases);
      if (held.length === 0) return 0;
      const ids = JSON.stringify(held);
      const delivered = sql.sizeOfLeased.get(ids, this.#queue) ?? 0;
      sql.deliverJobs.run(now, now, ids, this.#queue);
      sql.deleteLeased.run(ids, this.#queue);
      sql.addCounters.run(delivered, 0, 0, 0, this.#queue);
      return held.length;
    });
    this.#completeMessages = db.transaction((lease, messageIds, now) => {
      const row = this.#leasedRow(lease);
      if (!row) return false;
      const ids = JSON.parse(row.ids) as string[];
      const delivered = new Set(messageIds);
      const keep: number[] = [];
      let gone = 0;
      for (let i = 0; i < ids.length; i++) {
        if (!delivered.has(ids[i]!)) keep.push(i);
        else if (sql.deliverRecord.run(now, now, this.#queue, ids[i]!, row.id).changes > 0) gone++;
      }
      if (gone === 0) return true;
      // Payloads are JSON the store wrote (values that round-trip exactly), so a parse and a re-encode of
      // what is left gives back the same text for each message.
      const payloads = JSON.parse(row.payloads) as unknown[];
      const left = keep.length;
      const costs = row.costs === null ? null : JSON.stringify(cappedCosts(JSON.parse(row.costs), left));
      sql.cutJob.run(
        JSON.stringify(keep.map((i) => ids[i])),
        JSON.stringify(keep.map((i) => payloads[i])),
        left,
        costs,
        row.id,
      );
      sql.addCounters.run(gone, 0, 0, 0, this.#queue);
      return true;
    });
    this.#splitMessages = db.transaction((lease, messageIds) => {
      const row = this.#leasedRow(lease);
      if (!row) return null;
      const ids = JSON.parse(row.ids) as string[];
      const named = new Set(messageIds);
      const moved: number[] = [];
      const kept: number[] = [];
      for (let i = 0; i < ids.length; i++) (named.has(ids[i]!) ? moved : kept).push(i);
      if (moved.length === 0 || kept.length === 0) return String(row.id);
      // Payloads re-encoded from the store's own JSON come back as the same text (see completeMessages).
      const payloads = JSON.parse(row.payloads) as unknown[];
      const costs = row.costs === null ? null : (JSON.parse(row.costs) as Record<string, number>);
      const part = (at: number[]) => ({
        ids: JSON.stringify(at.map((i) => ids[i])),
        payloads: JSON.stringify(at.map((i) => payloads[i])),
        costs: costs && JSON.stringify(cappedCosts(costs, at.length)),
      });
      const off = part(moved);
      const { lastInsertRowid } = sql.splitJob.run(off.costs, off.ids, off.payloads, moved.length, row.id);
      sql.moveRecords.run(lastInsertRowid, this.#queue, row.id, off.ids);
      const rest = part(kept);
      sql.cutJob.run(rest.ids, rest.payloads, kept.length, rest.costs, row.id);
      return String(lastInsertRowid);
    });
    this.#release = db.transaction((lease, now, notBefore, failed, error, attempt) => {
      const row = this.#leasedRow(lease);
      if (!row) return false;
      this.#releaseRow(row, now, notBefore, failed, error, attempt);
      return true;
    });
    this.#bury = db.transaction((lease, now, error) => {
      const row = this.#leasedRow(lease);
      if (!row) return false;
      sql.bury.run(error, now, row.id, this.#queue);
      this.#setStatus(row, 'dead-lettered', now, row.attempts + 1, error);
      sql.addCounters.run(0, 0, row.size, 0, this.#queue);
      return true;
    });
    this.#extend = db.transaction((leases, until) => {
      const lost: LeaseRef[] = [];
      for (const lease of leases) {
        const id = toRowId(lease.jobId);
        if (id === undefined || sql.holds.get(id, this.#queue, lease.owner) !== 1) {
          lost.push(lease);
          continue;
        }
        sql.extend.run(until, id, this.#queue, lease.owner, until);
      }
      if (lost.length > 0) sql.addStale.run(lost.length, this.#queue);
      return lost;
    });
    this.#prune = db.transaction((before, now) => {
      this.#releaseExpiredHolds(now);
      return sql.prune.run(this.#queue, before).changes;
    });
    this.#recover = db.transaction((now) => {
      const expired = sql.expiredLeases.all(this.#queue, now);
      for (const row of expired) this.#releaseRow(row, now, now, false, null);
      return expired.length;
    });
    this.#holdLane = db.transaction((lane, until) => {
      sql.putHold.run(this.#queue, lane, until);
      sql.holdLane.run(this.#queue, lane);
    });
    this.#hasClaimable = db.transaction(
      (rank, now) =>
        sql.readyExists.get(this.#queue, rank, now) === 1 ||
        sql.unheldExists.get(this.#queue, now, rank, now) === 1,
    );
    this.#stats = db.transaction((now) => this.#statsTxn(now));
    this.#replay = db.transaction((filter, now) => {
      const rows = sql.deadIds.all(filterParams(this.#queue, filter));
      if (rows.length === 0) return 0;
      let seq = sql.takeSeq.get(rows.length, this.#queue)! - rows.length;
      for (const row of rows) {
        const state = this.#readyState(row.lane, now);
        // Replayed jobs join the end of their line with attempts reset.
        sql.requeue.run(state, now, 0, row.last_error, ++seq, row.id);
        this.#setStatus(row, 'enqueued', now, 0, row.last_error);
      }
      return rows.length;
    });
    this.#purge = db.transaction((filter) => {
      const rows = sql.deadIds.all(filterParams(this.#queue, filter));
      for (const row of rows) {
        sql.deleteJob.run(row.id);
        sql.deleteRecords.run(...rangeOf(row));
      }
      return rows.length;
    });
  }

  add(jobs: ReadonlyArray<JobInput<T>>, now: number, lease?: { owner: string; until: number }): Job<T>[] {
    if (jobs.length === 0) return [];
    return this.#conn.run('add', () => this.#add.immediate(jobs, now, lease));
  }

  record(
    ids: readonly string[],
    status: MessageStatus,
    priority: Priority,
    now: number,
    error?: string,
  ): void {
    if (ids.length === 0) return;
    this.#conn.run('record', () => this.#record.immediate(ids, status, priority, now, error ?? null));
  }

  hasClaimable(priority: Priority, now: number): boolean {
    return this.#conn.run('hasClaimable', () => this.#hasClaimable.deferred(PRIORITY_RANK[priority], now));
  }

  claim(query: ClaimQuery): Job<T>[] {
    if (!(query.maxJobs > 0)) return [];
    return this.#conn.run('claim', () => this.#claim.immediate(query));
  }

  complete(leases: readonly LeaseRef[], now: number): number {
    if (leases.length === 0) return 0;
    return this.#conn.run('complete', () => this.#complete.immediate(leases, now));
  }

  completeMessages(lease: LeaseRef, messageIds: readonly string[], now: number): boolean {
    return this.#conn.run('completeMessages', () => this.#completeMessages.immediate(lease, messageIds, now));
  }

  splitMessages(lease: LeaseRef, messageIds: readonly string[]): string | null {
    return this.#conn.run('splitMessages', () => this.#splitMessages.immediate(lease, messageIds));
  }

  release(
    lease: LeaseRef,
    now: number,
    options: { notBefore: number; failed: boolean; error?: string; attempt?: boolean },
  ): boolean {
    return this.#conn.run('release', () =>
      this.#release.immediate(
        lease,
        now,
        options.notBefore,
        options.failed,
        options.error ?? null,
        options.attempt !== false,
      ),
    );
  }

  bury(lease: LeaseRef, now: number, error: string): boolean {
    return this.#conn.run('bury', () => this.#bury.immediate(lease, now, error));
  }

  extend(leases: readonly LeaseRef[], until: number): LeaseRef[] {
    if (leases.length === 0) return [];
    return this.#conn.run('extend', () => this.#extend.immediate(leases, until));
  }

  recover(now: number): number {
    return this.#conn.run('recover', () => this.#recover.immediate(now));
  }

  holdLane(lane: string, until: number): void {
    this.#conn.run('holdLane', () => this.#holdLane.immediate(lane, until));
  }

  getRecord(id: string): MessageRecord | undefined {
    return this.#conn.run('getRecord', () => {
      const row = this.#sql.getRecord.get(this.#queue, id);
      return row && toRecord(row);
    });
  }

  stats(now: number): QueueStats {
    return this.#conn.run('stats', () => this.#stats.deferred(now));
  }

  deadLetters(filter: DeadLetterFilter = {}, limit = 100): DeadLetter<T>[] {
    return this.#conn.run('deadLetters', () =>
      this.#sql.deadLetters
        .all({ ...filterParams(this.#queue, filter), limit: Math.max(0, Math.min(limit, MAX_LIMIT)) })
        .map((row) => toDeadLetter<T>(row)),
    );
  }

  replay(filter: DeadLetterFilter, now: number): number {
    return this.#conn.run('replay', () => this.#replay.immediate(filter, now));
  }

  purge(filter: DeadLetterFilter): number {
    return this.#conn.run('purge', () => this.#purge.immediate(filter));
  }

  prune(before: number, now: number): number {
    return this.#conn.run('prune', () => this.#prune.immediate(before, now));
  }

  #addTxn(jobs: ReadonlyArray<JobInput<T>>, now: number, lease?: { owner: string; until: number }): Job<T>[] {
    const sql = this.#sql;
    const queue = this.#queue;
    const encoded = encodeJobs(jobs);
    const seen = new Set<string>();
    const taken: string[] = [];
    const stale: number[] = [];
    for (const job of encoded) {
      for (const id of job.messageIds) {
        const existing = sql.liveRecord.get(queue, id);
        if (seen.has(id) || (existing && existing.job_id !== null)) taken.push(id);
        else if (existing) stale.push(existing.rid);
        seen.add(id);
      }
    }
    if (taken.length > 0) throw new DuplicateMessageError(taken);
    // The old record of a reused id is replaced by a new one, in its new job's range.
    for (const rid of stale) sql.deleteRid.run(rid);
    let rid = sql.maxRid.get()!;
    const status: MessageStatus = lease ? 'passed-to-sender' : 'enqueued';
    let seq = lease ? 0 : sql.takeSeq.get(jobs.length, queue)! - jobs.length;
    return jobs.map((input, i) => {
      const job = encoded[i]!;
      const state = lease ? LEASED : this.#readyState(job.lane, now);
      const { lastInsertRowid } = sql.insertJob.run(
        queue,
        state,
        job.priority,
        lease ? null : ++seq,
        job.lane,
        job.scopes,
        job.costs,
        job.ids,
        job.payloads,
        job.messageIds.length,
        job.messageIds.length,
        rid + 1,
        now,
        now,
        lease?.owner ?? null,
        lease?.until ?? 0,
      );
      for (const id of job.messageIds) {
        sql.addRecord.run(++rid, queue, id, status, job.priority, now, now, lastInsertRowid);
      }
      return newJob(String(lastInsertRowid), input, now);
    });
  }

  #claimTxn(query: ClaimQuery): Job<T>[] {
    const sql = this.#sql;
    const queue = this.#queue;
    const { now } = query;
    this.#releaseExpiredHolds(now);
    const picked: number[] = [];
    let left = query.remaining;
    for (let rank = 0; rank < PRIORITIES.length && picked.length < query.maxJobs; rank++) {
      if (rank > 0 && left <= query.reserve) break;
      const limit = Math.min(query.maxJobs - picked.length, MAX_LIMIT);
      for (const { id, size } of sql.candidates.iterate(queue, rank, now, limit)) {
        if (rank > 0 && left <= query.reserve) break;
        if (size > left) break;
        left -= size;
        picked.push(id);
      }
    }
    if (picked.length === 0) return [];
    const ids = JSON.stringify(picked);
    sql.lease.run(query.owner, query.leaseUntil, ids);
    sql.jobsStatus.run('passed-to-sender', now, ids);
    const byId = new Map<number, Job<T>>();
    for (const row of sql.jobs.all(ids)) byId.set(row.id, toJob<T>(row));
    return picked.map((id) => byId.get(id)!);
  }

  /** The row of a job while `lease` is its lease; otherwise counts a stale operation. */
  #leasedRow(lease: LeaseRef): LeasedRow | undefined {
    const id = toRowId(lease.jobId);
    const row = id === undefined ? undefined : this.#sql.leased.get(id, this.#queue, lease.owner);
    if (!row) this.#sql.addStale.run(1, this.#queue);
    return row;
  }

  /**
   * The row ids of the leases still held (distinct); counts the others stale. One query for the whole list
   * (a lease named twice is applied once; the second is stale: the job is gone by then).
   */
  #heldIds(leases: readonly LeaseRef[]): number[] {
    const pairs: Array<[number, string]> = [];
    const named = new Set<number>();
    let stale = 0;
    for (const lease of leases) {
      const id = toRowId(lease.jobId);
      if (id === undefined || named.has(id)) stale++;
      else {
        named.add(id);
        pairs.push([id, lease.owner]);
      }
    }
    const held = pairs.length === 0 ? [] : this.#sql.heldOf.all(JSON.stringify(pairs), this.#queue);
    stale += pairs.length - held.length;
    if (stale > 0) this.#sql.addStale.run(stale, this.#queue);
    return held;
  }

  #releaseRow(
    row: JobRange & { lane: string; seq: number | null; attempts: number; last_error: string | null },
    now: number,
    notBefore: number,
    failed: boolean,
    error: string | null,
    attempt = true,
  ): void {
    const sql = this.#sql;
    const attempts = failed && attempt ? row.attempts + 1 : row.attempts;
    const lastError = failed ? error : row.last_error;
    // A job added already leased (direct send) has no place in line yet: it joins the end.
    const seq = row.seq === null ? sql.takeSeq.get(1, this.#queue)! : null;
    sql.requeue.run(this.#readyState(row.lane, now), notBefore, attempts, lastError, seq, row.id);
    if (failed) sql.addCounters.run(0, 0, 0, 1, this.#queue);
    this.#setStatus(row, failed ? 'retrying' : 'enqueued', now, attempts, lastError);
  }

  #statsTxn(now: number): QueueStats {
    const queued: Record<Priority, number> = { critical: 0, normal: 0, optional: 0 };
    let retrying = 0;
    let inFlight = 0;
    let deadLettered = 0;
    for (const { state, priority, retry, n } of this.#sql.stats.all(now, this.#queue)) {
      if (state === READY || state === HELD) {
        if (retry) retrying += n;
        else queued[PRIORITIES[priority] ?? 'optional'] += n;
      } else if (state === LEASED) inFlight += n;
      else if (state === DEAD) deadLettered += n;
    }
    const c = this.#sql.counters.get(this.#queue)!;
    return {
      queued,
      retrying,
      inFlight,
      deadLettered,
      counters: {
        delivered: c.delivered,
        dropped: c.dropped,
        deadLettered: c.dead_lettered,
        retried: c.retried,
        stale: c.stale,
      },
    };
  }

  /** READY, or HELD when the lane is held past `now`. */
  #readyState(lane: string, now: number): number {
    const until = this.#sql.holdUntil.get(this.#queue, lane);
    return until !== undefined && until > now ? HELD : READY;
  }

  /** Returns the jobs of lanes whose hold ended to the claimable set. */
  #releaseExpiredHolds(now: number): void {
    const sql = this.#sql;
    const lanes = sql.expiredHolds.all(this.#queue, now);
    if (lanes.length === 0) return;
    for (const lane of lanes) sql.unholdLane.run(this.#queue, lane);
    sql.deleteExpiredHolds.run(this.#queue, now);
  }

  /** Sets the status of every message of a job (one range update). */
  #setStatus(
    job: JobRange,
    status: MessageStatus,
    now: number,
    attempts: number,
    lastError: string | null,
  ): void {
    this.#sql.setStatus.run(status, now, attempts, lastError, ...rangeOf(job));
  }
}

/** Per-scope costs of a job that has `left` messages now: no share above what is left. */
function cappedCosts(costs: Record<string, number>, left: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [scope, cost] of Object.entries(costs)) out[scope] = Math.min(cost, left);
  return out;
}

/** A job id as the rowid it is, or undefined when it cannot name a job. */
function toRowId(jobId: string): number | undefined {
  return typeof jobId === 'string' && /^[1-9][0-9]{0,15}$/.test(jobId) ? Number(jobId) : undefined;
}
