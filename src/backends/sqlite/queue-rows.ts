import { encodePayload } from '../payload-codec.js';
import {
  type DeadLetter,
  type DeadLetterFilter,
  type Job,
  type JobInput,
  type MessageRecord,
  type MessageStatus,
  PRIORITIES,
  PRIORITY_RANK,
  type Priority,
} from '../types.js';

/** Job states as stored in `rk_job.state`. */
export const READY = 0;
/** Ready, but its lane is held: skipped by claims until the hold ends. */
export const HELD = 1;
export const LEASED = 2;
export const DEAD = 3;

/** The columns a {@link Job} is built from. */

export interface JobRow {
  id: number;
  priority: number;
  lane: string;
  scopes: string;
  costs: string | null;
  ids: string;
  payloads: string;
  attempts: number;
  enqueued_at: number;
  not_before: number;
  last_error: string | null;
}

export interface DeadJobRow extends JobRow {
  failed_at: number;
}

export interface RecordRow {
  id: string;
  status: string;
  priority: number;
  attempts: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
}

/** A job input ready to insert: everything serialised up front, so a bad payload writes nothing. */
export interface EncodedJob {
  priority: number;
  lane: string;
  scopes: string;
  costs: string | null;
  ids: string;
  messageIds: string[];
  payloads: string;
}

export function priorityOf(rank: number): Priority {
  return PRIORITIES[rank] ?? 'optional';
}

/**
 * Serialises the jobs of an `add`.
 * @throws UnstorablePayloadError (a BackendError) when a payload would not come back from JSON identical.
 */
export function encodeJobs<T>(jobs: ReadonlyArray<JobInput<T>>): EncodedJob[] {
  return jobs.map((job) => {
    const messageIds: string[] = [];
    const parts: string[] = [];
    for (const message of job.messages) {
      messageIds.push(message.id);
      parts.push(encodePayload(message.payload, message.id, 'SQLite'));
    }
    return {
      priority: PRIORITY_RANK[job.priority],
      lane: job.lane,
      scopes: JSON.stringify(job.scopes),
      costs: job.costs ? JSON.stringify(job.costs) : null,
      ids: JSON.stringify(messageIds),
      messageIds,
      payloads: `[${parts.join(',')}]`,
    };
  });
}

export function toJob<T>(row: JobRow): Job<T> {
  const ids = JSON.parse(row.ids) as string[];
  const payloads = JSON.parse(row.payloads) as T[];
  return {
    id: String(row.id),
    priority: priorityOf(row.priority),
    lane: row.lane,
    scopes: JSON.parse(row.scopes) as string[],
    ...(row.costs === null ? {} : { costs: JSON.parse(row.costs) as Record<string, number> }),
    messages: ids.map((id, i) => ({ id, payload: payloads[i] as T })),
    attempts: row.attempts,
    enqueuedAt: row.enqueued_at,
    notBefore: row.not_before,
    lastError: row.last_error,
  };
}

export function toDeadLetter<T>(row: DeadJobRow): DeadLetter<T> {
  return { ...toJob<T>(row), failedAt: row.failed_at };
}

export function toRecord(row: RecordRow): MessageRecord {
  return {
    id: row.id,
    status: row.status as MessageStatus,
    priority: priorityOf(row.priority),
    attempts: row.attempts,
    lastError: row.last_error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deliveredAt: row.delivered_at,
  };
}

/** Named parameters of the dead-letter filter clause (see `DEAD_FILTER` in queue-sql.ts). */
export interface FilterParams {
  queue: number;
  priority: number | null;
  lane: string | null;
  failedBefore: number | null;
  jobIds: string | null;
  messageIds: string | null;
}

/** Turns a {@link DeadLetterFilter} into the parameters of the SQL filter clause. */
export function filterParams(queue: number, filter: DeadLetterFilter): FilterParams {
  let priority: number | null = null;
  if (filter.priority) priority = PRIORITY_RANK[filter.priority] ?? -1;
  // Job ids are the decimal rowids; any other string names no job.
  const jobIds = filter.jobIds
    ? JSON.stringify(filter.jobIds.filter((id) => /^[1-9][0-9]{0,15}$/.test(id)).map(Number))
    : null;
  return {
    queue,
    priority,
    lane: filter.lane ?? null,
    failedBefore: filter.failedBefore ?? null,
    jobIds,
    messageIds: filter.messageIds ? JSON.stringify(filter.messageIds) : null,
  };
}
