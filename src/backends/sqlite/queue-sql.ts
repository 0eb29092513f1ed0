import type { Database, Statement } from 'better-sqlite3';
import type { DeadJobRow, FilterParams, JobRow, RecordRow } from './queue-rows.js';

/** Selects a queue's dead jobs matching a filter (named parameters: see FilterParams). */
const DEAD_FILTER = `queue = @queue AND state = 3
  AND (@priority IS NULL OR priority = @priority)
  AND (@lane IS NULL OR lane = @lane)
  AND (@failedBefore IS NULL OR failed_at < @failedBefore)
  AND (@jobIds IS NULL OR id IN (SELECT value FROM json_each(@jobIds)))
  AND (@messageIds IS NULL OR id IN (
    SELECT r.job_id FROM json_each(@messageIds) m JOIN rk_record r ON r.queue = @queue AND r.id = m.value))`;

/** The columns a Job is built from (see JobRow). */
const JOB = 'id, priority, lane, scopes, costs, ids, payloads, attempts, enqueued_at, not_before, last_error';

/**
 * Where a job's message records are: rowids [first_rid, first_rid + span), owned by job `id` (records
 * of messages already delivered have left the job); `size` is how many messages the job still holds.
 */
export interface JobRange {
  id: number;
  first_rid: number;
  span: number;
  size: number;
}

/** The range parameters of a job: `rid >= ? AND rid < ? AND job_id = ?`. */
export function rangeOf(job: JobRange): [number, number, number] {
  return [job.first_rid, job.first_rid + job.span, job.id];
}

/** A leased job, with what a partial completion rewrites. */
export interface LeasedRow extends JobRange {
  lane: string;
  seq: number | null;
  attempts: number;
  last_error: string | null;
  ids: string;
  payloads: string;
  costs: string | null;
}

export interface Counters {
  stale: number;
  delivered: number;
  dropped: number;
  dead_lettered: number;
  retried: number;
}

/**
 * Every statement the queues of one database use, prepared once and shared by all named queues (each
 * statement takes the queue's numeric id).
 */
export class QueueStatements {
  readonly ensureQueue: Statement<[string]>;
  readonly queueId: Statement<[string], number>;
  /** Reserves `n` places in line; returns the last one. */
  readonly takeSeq: Statement<[number, number], number>;
  readonly addCounters: Statement<[number, number, number, number, number]>;
  readonly addStale: Statement<[number, number]>;
  readonly counters: Statement<[number], Counters>;

  readonly liveRecord: Statement<[number, string], { rid: number; job_id: number | null }>;
  readonly maxRid: Statement<[], number>;
  readonly deleteRid: Statement<[number]>;
  readonly holdUntil: Statement<[number, string], number>;
  readonly insertJob: Statement<
    [
      number,
      number,
      number,
      number | null,
      string,
      string,
      string | null,
      string,
      string,
      number,
      number,
      number,
      number,
      number,
      string | null,
      number,
    ]
  >;
  readonly addRecord: Statement<[number, number, string, string, number, number, number, number | bigint]>;
  readonly record: Statement<[number, string, string, number, string | null, number, number]>;
  /** Params: status, updatedAt, attempts, lastError, then the job's range (see {@link rangeOf}). */
  readonly setStatus: Statement<[string, number, number, string | null, number, number, number]>;
  readonly delivered: Statement<[number, number, number, number, number]>;
  readonly deleteRecords: Statement<[number, number, number]>;
  readonly getRecord: Statement<[number, string], RecordRow>;
  readonly prune: Statement<[number, number]>;

  readonly candidates: Statement<[number, number, number, number], { id: number; size: number }>;
  /** Leases jobs given as a JSON array of ids. */
  readonly lease: Statement<[string, number, string]>;
  /** Jobs given as a JSON array of ids, with their ranges. */
  readonly jobs: Statement<[string], JobRow & JobRange>;
  /** Sets the status of the messages of jobs given as a JSON array of ids (attempts and error from each job). */
  readonly jobsStatus: Statement<[string, number, string]>;
  /** Completion of leased jobs given as a JSON array: records, then the messages delivered, then deletion. */
  readonly deliverJobs: Statement<[number, number, string, number]>;
  readonly sizeOfLeased: Statement<[string, number], number | null>;
  readonly deleteLeased: Statement<[string, number]>;
  /** A job leased under the given owner: params id, queue, owner. */
  readonly leased: Statement<[number, number, string], LeasedRow>;
  /** Rewrites what a job holds after some of its messages were delivered: ids, payloads, size, costs, id. */
  readonly cutJob: Statement<[string, string, number, string | null, number]>;
  /** Records one message of a job delivered: updatedAt, deliveredAt, queue, message id, job id. */
  readonly deliverRecord: Statement<[number, number, number, string, number]>;
  /**
   * A copy of a leased job holding some of its messages, with no place in line: costs, ids, payloads,
   * size, then the job's id. Its records stay in the job's range (moved by {@link moveRecords}).
   */
  readonly splitJob: Statement<[string | null, string, string, number, number]>;
  /** Hands records to another job: new job id, queue, old job id, message ids (a JSON array). */
  readonly moveRecords: Statement<[number | bigint, number, number, string]>;
  readonly requeue: Statement<[number, number, number, string | null, number | null, number]>;
  readonly bury: Statement<[string, number, number, number]>;
  readonly extend: Statement<[number, number, number, string, number]>;
  /** Whether a job is leased under an owner: params id, queue, owner. */
  readonly holds: Statement<[number, number, string], number>;
  /** Of [id, owner] pairs (a JSON array), the ids whose job is leased under that owner. */
  readonly heldOf: Statement<[string, number], number>;
  /** Leased jobs whose lease ended: params queue, now. */
  readonly expiredLeases: Statement<
    [number, number],
    JobRange & { lane: string; seq: number | null; attempts: number; last_error: string | null }
  >;

  readonly expiredHolds: Statement<[number, number], string>;
  readonly unholdLane: Statement<[number, string]>;
  readonly deleteExpiredHolds: Statement<[number, number]>;
  readonly putHold: Statement<[number, string, number]>;
  readonly holdLane: Statement<[number, string]>;
  readonly readyExists: Statement<[number, number, number], number>;
  readonly unheldExists: Statement<[number, number, number, number], number>;

  readonly stats: Statement<[number, number], { state: number; priority: number; retry: number; n: number }>;
  readonly deadLetters: Statement<[FilterParams & { limit: number }], DeadJobRow>;
  readonly deadIds: Statement<[FilterParams], JobRange & { lane: string; last_error: string | null }>;
  readonly deleteJob: Statement<[number]>;

  constructor(db: Database) {
    this.ensureQueue = db.prepare('INSERT OR IGNORE INTO rk_queue (name) VALUES (?)');
    this.queueId = db.prepare<[string], number>('SELECT id FROM rk_queue WHERE name = ?').pluck();
    this.takeSeq = db
      .prepare<[number, number], number>(
        'UPDATE rk_queue SET next_seq = next_seq + ? WHERE id = ? RETURNING next_seq',
      )
      .pluck();
    this.addCounters = db.prepare(
      `UPDATE rk_queue SET delivered = delivered + ?, dropped = dropped + ?,
         dead_lettered = dead_lettered + ?, retried = retried + ? WHERE id = ?`,
    );
    this.addStale = db.prepare('UPDATE rk_queue SET stale = stale + ? WHERE id = ?');
    this.counters = db.prepare(
      'SELECT delivered, dropped, dead_lettered, retried, stale FROM rk_queue WHERE id = ?',
    );

    this.liveRecord = db.prepare('SELECT rid, job_id FROM rk_record WHERE queue = ? AND id = ?');
    this.maxRid = db.prepare<[], number>('SELECT coalesce(max(rid), 0) FROM rk_record').pluck();
    this.deleteRid = db.prepare('DELETE FROM rk_record WHERE rid = ?');
    this.holdUntil = db
      .prepare<[number, string], number>('SELECT until FROM rk_lane_hold WHERE queue = ? AND lane = ?')
      .pluck();
    this.insertJob = db.prepare(
      `INSERT INTO rk_job (queue, state, priority, seq, lane, scopes, costs, ids, payloads, size, span, first_rid,
         enqueued_at, not_before, owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.addRecord = db.prepare(
      `INSERT INTO rk_record (rid, queue, id, status, priority, attempts, last_error, created_at, updated_at,
         delivered_at, job_id) VALUES (?, ?, ?, ?, ?, 0, NULL, ?, ?, NULL, ?)`,
    );
    this.record = db.prepare(
      `INSERT INTO rk_record (queue, id, status, priority, attempts, last_error, created_at, updated_at,
         delivered_at, job_id) VALUES (?, ?, ?, ?, 0, ?, ?, ?, NULL, NULL)
       ON CONFLICT (queue, id) DO UPDATE SET status = excluded.status, priority = excluded.priority,
         last_error = excluded.last_error, updated_at = excluded.updated_at, delivered_at = NULL
         WHERE job_id IS NULL`,
    );
    this.setStatus = db.prepare(
      `UPDATE rk_record SET status = ?, updated_at = ?, attempts = ?, last_error = ?
       WHERE rid >= ? AND rid < ? AND job_id = ?`,
    );
    this.delivered = db.prepare(
      `UPDATE rk_record SET status = 'passed-to-sender', updated_at = ?, delivered_at = ?, job_id = NULL
       WHERE rid >= ? AND rid < ? AND job_id = ?`,
    );
    this.deleteRecords = db.prepare('DELETE FROM rk_record WHERE rid >= ? AND rid < ? AND job_id = ?');
    this.getRecord = db.prepare(
      `SELECT id, status, priority, attempts, last_error, created_at, updated_at, delivered_at
       FROM rk_record WHERE queue = ? AND id = ?`,
    );
    this.prune = db.prepare('DELETE FROM rk_record WHERE queue = ? AND updated_at < ? AND job_id IS NULL');

    this.candidates = db.prepare(
      `SELECT id, size FROM rk_job INDEXED BY rk_job_claim
       WHERE queue = ? AND state = 0 AND priority = ? AND not_before <= ? ORDER BY seq LIMIT ?`,
    );
    const IDS = 'id IN (SELECT value FROM json_each(?))';
    this.lease = db.prepare(`UPDATE rk_job SET state = 2, owner = ?, lease_until = ? WHERE ${IDS}`);
    this.jobs = db.prepare(`SELECT ${JOB}, first_rid, span, size FROM rk_job WHERE ${IDS}`);
    this.jobsStatus = db.prepare(
      `UPDATE rk_record AS r SET status = ?, updated_at = ?, attempts = j.attempts, last_error = j.last_error
       FROM rk_job AS j WHERE j.${IDS}
         AND r.rid >= j.first_rid AND r.rid < j.first_rid + j.span AND r.job_id = j.id`,
    );
    this.deliverJobs = db.prepare(
      `UPDATE rk_record AS r SET status = 'passed-to-sender', updated_at = ?, delivered_at = ?, job_id = NULL
       FROM rk_job AS j WHERE j.${IDS} AND j.queue = ? AND j.state = 2
         AND r.rid >= j.first_rid AND r.rid < j.first_rid + j.span AND r.job_id = j.id`,
    );
    this.sizeOfLeased = db
      .prepare<[string, number], number | null>(
        `SELECT sum(size) FROM rk_job WHERE ${IDS} AND queue = ? AND state = 2`,
      )
      .pluck();
    this.deleteLeased = db.prepare(`DELETE FROM rk_job WHERE ${IDS} AND queue = ? AND state = 2`);
    this.leased = db.prepare(
      `SELECT id, first_rid, span, size, lane, seq, attempts, last_error, ids, payloads, costs FROM rk_job
       WHERE id = ? AND queue = ? AND state = 2 AND owner = ?`,
    );
    this.cutJob = db.prepare('UPDATE rk_job SET ids = ?, payloads = ?, size = ?, costs = ? WHERE id = ?');
    this.deliverRecord = db.prepare(
      `UPDATE rk_record SET status = 'passed-to-sender', updated_at = ?, delivered_at = ?, job_id = NULL
       WHERE queue = ? AND id = ? AND job_id = ?`,
    );
    this.splitJob = db.prepare(
      `INSERT INTO rk_job (queue, state, priority, seq, lane, scopes, costs, ids, payloads, size, span, first_rid,
         attempts, enqueued_at, not_before, last_error, owner, lease_until, failed_at)
       SELECT queue, state, priority, NULL, lane, scopes, ?, ?, ?, ?, span, first_rid,
         attempts, enqueued_at, not_before, last_error, owner, lease_until, failed_at
       FROM rk_job WHERE id = ?`,
    );
    this.moveRecords = db.prepare(
      `UPDATE rk_record SET job_id = ?
       WHERE queue = ? AND job_id = ? AND id IN (SELECT value FROM json_each(?))`,
    );
    this.requeue = db.prepare(
      `UPDATE rk_job SET state = ?, owner = NULL, not_before = ?, attempts = ?, last_error = ?,
         seq = coalesce(seq, ?) WHERE id = ?`,
    );
    this.bury = db.prepare(
      `UPDATE rk_job SET state = 3, owner = NULL, attempts = attempts + 1, last_error = ?, failed_at = ?,
         seq = NULL WHERE id = ? AND queue = ?`,
    );
    this.extend = db.prepare(
      `UPDATE rk_job SET lease_until = ? WHERE id = ? AND queue = ? AND state = 2 AND owner = ?
         AND lease_until < ?`,
    );
    this.heldOf = db
      .prepare<[string, number], number>(
        // CROSS JOIN: the pairs drive the loop, each job found by its rowid (not a scan per pair).
        `SELECT j.id FROM json_each(?) AS p CROSS JOIN rk_job AS j
         WHERE j.id = (p.value ->> 0) AND j.queue = ? AND j.state = 2 AND j.owner = (p.value ->> 1)`,
      )
      .pluck();
    this.holds = db
      .prepare<[number, number, string], number>(
        'SELECT EXISTS (SELECT 1 FROM rk_job WHERE id = ? AND queue = ? AND state = 2 AND owner = ?)',
      )
      .pluck();
    this.expiredLeases = db.prepare(
      `SELECT id, first_rid, span, size, lane, seq, attempts, last_error FROM rk_job
       WHERE queue = ? AND state = 2 AND lease_until <= ? ORDER BY id`,
    );
    this.expiredHolds = db
      .prepare<[number, number], string>('SELECT lane FROM rk_lane_hold WHERE queue = ? AND until <= ?')
      .pluck();
    this.unholdLane = db.prepare('UPDATE rk_job SET state = 0 WHERE queue = ? AND lane = ? AND state = 1');
    this.deleteExpiredHolds = db.prepare('DELETE FROM rk_lane_hold WHERE queue = ? AND until <= ?');
    this.putHold = db.prepare(
      `INSERT INTO rk_lane_hold (queue, lane, until) VALUES (?, ?, ?)
       ON CONFLICT (queue, lane) DO UPDATE SET until = max(until, excluded.until)`,
    );
    this.holdLane = db.prepare('UPDATE rk_job SET state = 1 WHERE queue = ? AND lane = ? AND state = 0');
    this.readyExists = db
      .prepare<[number, number, number], number>(
        `SELECT EXISTS (SELECT 1 FROM rk_job INDEXED BY rk_job_claim
           WHERE queue = ? AND state = 0 AND priority <= ? AND not_before <= ?)`,
      )
      .pluck();
    this.unheldExists = db
      .prepare<[number, number, number, number], number>(
        `SELECT EXISTS (SELECT 1 FROM rk_lane_hold h
           JOIN rk_job j ON j.queue = h.queue AND j.lane = h.lane AND j.state = 1
           WHERE h.queue = ? AND h.until <= ? AND j.priority <= ? AND j.not_before <= ?)`,
      )
      .pluck();

    this.stats = db.prepare(
      `SELECT state, priority, (attempts > 0 AND not_before > ?) AS retry, sum(size) AS n
       FROM rk_job WHERE queue = ? GROUP BY state, priority, retry`,
    );
    this.deadLetters = db.prepare(
      `SELECT ${JOB}, failed_at FROM rk_job WHERE ${DEAD_FILTER} ORDER BY failed_at, id LIMIT @limit`,
    );
    this.deadIds = db.prepare(
      `SELECT id, first_rid, span, size, lane, last_error FROM rk_job WHERE ${DEAD_FILTER} ORDER BY failed_at, id`,
    );
    this.deleteJob = db.prepare('DELETE FROM rk_job WHERE id = ?');
  }
}
