import type { Decision, RuleStats } from '../core/types.js';
import type { Plan, PlanItem } from '../engine/plan.js';
import type { ScopeRules } from '../engine/rules.js';

/** A value or a promise of it: memory and SQLite answer synchronously, Redis asynchronously. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Where limit state lives. Every method is atomic on its own: `decide` checks every item of the plan
 * and charges all of them, or none, in one step (one transaction, one Lua script).
 */
export interface LimitStore {
  /** True when every method returns synchronously (enables `RateLimiter#tryAcquireSync`). */
  readonly sync: boolean;
  /**
   * True when one `decideMany` costs about what one `decide` does (a transaction each: SQLite), so that
   * `RateLimiter#tryAcquire` decides the calls made in the same tick together: concurrent callers share one
   * commit, and each still learns its answer only after it is committed.
   */
  readonly groupCommit?: boolean;
  /**
   * Checks the plan at `now`; if every scope is unblocked and every item fits, charges all items. A plan with
   * `choices` (an endpoint pool, see `engine/choices.ts`) is decided choice by choice in its order, in the
   * same atomic step: the first that fits is charged and nothing else is, and the decision names its
   * `alternative` (when none fits: the one that would admit first).
   */
  decide(plan: Plan, now: number): MaybePromise<Decision>;
  /**
   * Optional, synchronous stores only: `decide` for a request of the default cost (`{ scopes }`: one request,
   * charged on each scope's rules counting `requests`), the scopes resolved against `rules` by the store
   * itself, without a plan. `scopes`: distinct non-empty strings (the caller checks). Same decision and same
   * charges as `decide(buildPlan({ scopes }, rules), now)`; the memory store's hot path.
   */
  decideDefault?(scopes: string | readonly string[], rules: ScopeRules, now: number): Decision;
  /**
   * `decide` for several plans in ONE atomic step (one transaction / one script), in order: each plan is
   * admitted or refused on its own and sees the charges of the plans before it. Used to coalesce many
   * decisions into one round trip.
   */
  decideMany(plans: readonly Plan[], now: number): MaybePromise<Decision[]>;
  /** Like `decide` but never charges. */
  peek(plan: Plan, now: number): MaybePromise<Decision>;
  /** Adds each item's `cost` (which may be negative: a refund) without checking limits. */
  adjust(items: readonly PlanItem[], now: number): MaybePromise<void>;
  /** Blocks scopes until `until` (ms since epoch). A block only ever extends an existing one. */
  block(scopes: readonly string[], until: number): MaybePromise<void>;
  /** Usage of every item of the plan, plus blocks. */
  inspect(plan: Plan, now: number): MaybePromise<RuleStats[]>;
  /** Forgets the state and block of one scope, or of every scope. */
  reset(scope?: string): MaybePromise<void>;
}

/** Delivery priorities, most urgent first. */
export type Priority = 'critical' | 'normal' | 'optional';
export const PRIORITIES: readonly Priority[] = ['critical', 'normal', 'optional'];
/** Sort rank of a priority: critical 0, normal 1, optional 2. */
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = { critical: 0, normal: 1, optional: 2 };

/**
 * What happened to a message, latest first:
 * - `passed-to-sender`: handed to the sender (the record's `deliveredAt` tells when the sender resolved);
 * - `enqueued`: waiting for quota;
 * - `retrying`: the sender failed; it waits for its next attempt;
 * - `dead-lettered`: out of attempts or failed permanently; see the dead-letter queue;
 * - `dropped`: an optional message refused under low or exhausted quota;
 * - `dropped-batch-too-large`: its batch was larger than `maxBatchFraction` of capacity;
 * - `dropped-failed-to-enqueue`: writing it to the queue failed (the record says why).
 */
export type MessageStatus =
  | 'passed-to-sender'
  | 'enqueued'
  | 'dropped'
  | 'dropped-batch-too-large'
  | 'dropped-failed-to-enqueue'
  | 'retrying'
  | 'dead-lettered';

/** One message: an id unique among unfinished messages, and the user's payload. */
export interface QueuedMessage<T = unknown> {
  id: string;
  payload: T;
}

/** A batch to queue: delivered all at once, never split. */
export interface JobInput<T = unknown> {
  priority: Priority;
  /**
   * FIFO lane: jobs of one lane are claimed in order; a held lane never delays others (no head-of-line
   * blocking). The manager uses the sorted scopes of the batch, `''` when it has none.
   */
  lane: string;
  /** Limiter scopes the batch passes through besides the manager's own quota. */
  scopes: readonly string[];
  /** Messages per scope (a batch may mix chats). Absent: every scope is charged the batch size. Stores keep it. */
  costs?: Readonly<Record<string, number>>;
  messages: ReadonlyArray<QueuedMessage<T>>;
}

/** A queued batch. */
export interface Job<T = unknown> extends JobInput<T> {
  /** Unique job id (assigned by the store). */
  id: string;
  /** Failed deliveries so far (retry-after answers are not counted). */
  attempts: number;
  /** When it was first queued. */
  enqueuedAt: number;
  /** Not claimable before this time (retry backoff). */
  notBefore: number;
  lastError: string | null;
}

/** The latest known state of one message id. */
export interface MessageRecord {
  id: string;
  status: MessageStatus;
  priority: Priority;
  attempts: number;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  /** When the sender resolved for it (null while not yet delivered). */
  deliveredAt: number | null;
}

/** A dead-lettered batch with what is needed to replay it. */
export interface DeadLetter<T = unknown> extends Job<T> {
  failedAt: number;
}

/** Selects dead letters; every given field must match. No field selects all. */
export interface DeadLetterFilter {
  /** Job ids. */
  jobIds?: readonly string[];
  /** Any message id of the batch. */
  messageIds?: readonly string[];
  priority?: Priority;
  lane?: string;
  /** Failed before this time. */
  failedBefore?: number;
}

/**
 * A lease on a job: the job and the token it was leased under (the `owner` of the claim or of the leased
 * `add`). Every operation on a leased job names its lease; a store applies it only while that lease is
 * still the job's (fencing, like BullMQ's lock token), and otherwise refuses it and counts it `stale`.
 */
export interface LeaseRef {
  jobId: string;
  owner: string;
}

export interface ClaimQuery {
  now: number;
  /**
   * The lease token of this claim: every job claimed is leased under it. A manager uses a fresh token per
   * claim (its instance id and a sequence number), so a job it lost and claimed again is a new lease.
   */
  owner: string;
  /** Lease expiry: after it, `recover` returns the job to the queue (the owner is presumed dead). */
  leaseUntil: number;
  /** Most jobs to claim. */
  maxJobs: number;
  /**
   * Messages the manager's quota has left. Jobs are taken in priority order, FIFO within a priority;
   * a job is taken only if its size fits in what is left, and a priority stops at the first job that
   * does not fit (so a big batch is not overtaken forever).
   */
  remaining: number;
  /** Normal and optional jobs are taken only while what is left exceeds this (the critical reserve). */
  reserve: number;
}

export interface QueueCounters {
  /** Messages whose sender call resolved. */
  delivered: number;
  /**
   * Operations refused because they named a lease that is no longer held (the job's lease expired and it
   * was recovered, or another owner holds it now): a stale owner never changes a job.
   */
  stale: number;
  /** Messages dropped (any `dropped*` status). */
  dropped: number;
  /** Messages moved to dead letters. */
  deadLettered: number;
  /** Failed attempts that were scheduled for retry. */
  retried: number;
}

export interface QueueStats {
  /** Messages waiting per priority (not retrying, not in flight). */
  queued: Record<Priority, number>;
  /** Messages waiting for a retry attempt. */
  retrying: number;
  /** Messages leased to a sender right now. */
  inFlight: number;
  /** Messages in the dead-letter queue. */
  deadLettered: number;
  /** Lifetime counters of this queue. */
  counters: QueueCounters;
}

/**
 * Where a manager's queue lives: batches, leases, statuses, dead letters and counters. Every method is
 * atomic. Payloads must survive the store's serialisation (JSON for SQLite and Redis).
 */
export interface QueueStore<T = unknown> {
  /**
   * Adds batches atomically: all or none. Without `lease` they wait (`enqueued`); with it they are already
   * in flight to `lease.owner` (`passed-to-sender`).
   * @throws DuplicateMessageError when an id is queued, in flight, retrying or dead-lettered; nothing is written.
   */
  add(
    jobs: ReadonlyArray<JobInput<T>>,
    now: number,
    lease?: { owner: string; until: number },
  ): MaybePromise<Job<T>[]>;
  /** Records a status for messages that are not queued (the `dropped*` statuses). */
  record(
    ids: readonly string[],
    status: MessageStatus,
    priority: Priority,
    now: number,
    error?: string,
  ): MaybePromise<void>;
  /**
   * True when a job of this priority or a more urgent one could be claimed now (due, lane not held).
   * Answered in bounded work: a store that cannot tell within its bound (Redis: after reading 200 jobs
   * that cannot go, e.g. leased or in held lanes) answers true, which only queues an offer behind them.
   */
  hasClaimable(priority: Priority, now: number): MaybePromise<boolean>;
  /** Leases due jobs in order, within the budget (see {@link ClaimQuery}); statuses become `passed-to-sender`. */
  claim(query: ClaimQuery): MaybePromise<Job<T>[]>;
  /**
   * The sender resolved: removes the jobs, records `deliveredAt`, counts them delivered. Only leases still
   * held are applied. Returns how many jobs were completed.
   */
  complete(leases: readonly LeaseRef[], now: number): MaybePromise<number>;
  /**
   * The sender delivered some messages of a leased job (a partial outcome): those are recorded delivered
   * and removed from the job, which stays leased with the others (release or bury it next; if the process
   * dies first, only the others are delivered again). Returns false when the lease is not held.
   */
  completeMessages(lease: LeaseRef, messageIds: readonly string[], now: number): MaybePromise<boolean>;
  /**
   * Moves some messages of a leased job into a job of their own, leased under the same lease token until
   * the same time, so that each part can be released or buried on its own (a partial outcome whose
   * failures differ: the permanent ones buried, the others retried). The new job has the job's priority,
   * lane, scopes, attempts, last error and enqueue time, and each per-scope cost capped by its size (the
   * job's own costs are capped by what it keeps, as `completeMessages` does). It has no place in line: on
   * release it joins the end of its line, like a job added leased (if the process dies first, `recover`
   * returns both parts). No status or counter changes. Ids that are not the job's are ignored.
   * Returns the new job's id; the job's own id when nothing is split off (the ids name none of its
   * messages, or all of them); null when the lease is not held (nothing changed; counted stale).
   */
  splitMessages(lease: LeaseRef, messageIds: readonly string[]): MaybePromise<string | null>;
  /**
   * Returns a leased job to its place in the queue, claimable from `notBefore`.
   * `failed` records `error` (status `retrying`) and counts an attempt, unless `attempt` is false (a
   * receiver's retry-after answer: the receiver asked to wait, the delivery did not fail); otherwise
   * status `enqueued`. Returns false when the lease is not held.
   */
  release(
    lease: LeaseRef,
    now: number,
    options: { notBefore: number; failed: boolean; error?: string; attempt?: boolean },
  ): MaybePromise<boolean>;
  /** Moves a leased job to the dead letters (status `dead-lettered`). Returns false when the lease is not held. */
  bury(lease: LeaseRef, now: number, error: string): MaybePromise<boolean>;
  /**
   * Extends these leases to `until` (only ever later). Returns the leases (the very objects given, in
   * their order) that are no longer held: another owner, or this one under a newer lease, holds the job.
   */
  extend(leases: readonly LeaseRef[], until: number): MaybePromise<LeaseRef[]>;
  /** Returns jobs whose lease expired to the queue (at-least-once redelivery). Returns how many. */
  recover(now: number): MaybePromise<number>;
  /** Holds a lane: none of its jobs is claimed before `until` (extends only). */
  holdLane(lane: string, until: number): MaybePromise<void>;
  getRecord(id: string): MaybePromise<MessageRecord | undefined>;
  stats(now: number): MaybePromise<QueueStats>;
  /** Dead letters, oldest failure first. */
  deadLetters(filter?: DeadLetterFilter, limit?: number): MaybePromise<DeadLetter<T>[]>;
  /** Puts matching dead letters back in the queue with attempts reset. Returns how many jobs. */
  replay(filter: DeadLetterFilter, now: number): MaybePromise<number>;
  /** Deletes matching dead letters (and their messages' records). Returns how many jobs. */
  purge(filter: DeadLetterFilter): MaybePromise<number>;
  /**
   * Deletes records of finished messages (delivered or dropped) last updated before `before`, and lane
   * holds that ended before `now`. Returns how many records. Works in bounded steps on stores shared by
   * other clients (Redis), so a large queue never blocks the store for long.
   */
  prune(before: number, now: number): MaybePromise<number>;
}

/** A storage backend: the limit state and any number of named queues. */
export interface Backend {
  /** `'memory' | 'sqlite' | 'redis'`. */
  readonly kind: string;
  readonly limits: LimitStore;
  /** The named queue (created on first use). */
  queue<T = unknown>(name?: string): QueueStore<T>;
  /**
   * Runs `fn` — synchronous calls of this backend's stores — in one transaction: all of its writes
   * commit together, or none do when it throws. Nested calls are nested transactions (one that throws
   * undoes only its own writes). Only backends whose stores answer synchronously (SQLite) have it.
   */
  atomically?<R>(fn: () => R): R;
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}
