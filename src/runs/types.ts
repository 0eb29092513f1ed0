import type { Duration } from '../core/duration.js';
import type { Plan, PlanEndpoint } from '../planner/types.js';

/** A run's life: `running` until every participant stopped, then `finished`, `cancelled` or `failed`. */
export type RunStatus = 'running' | 'finished' | 'cancelled' | 'failed';

/** One job type of a run: how long one job takes and the endpoints that serve it (primary first). */
export interface RunJobType {
  /** Expected time one job takes (the call to its endpoint); the run re-plans with what it measures. */
  duration: Duration;
  /** Primary first, then overflow endpoints, each with its own limit (enforced through the limiter). */
  endpoints: readonly PlanEndpoint[];
}

/** The durable part of a run's input (what is stored in its record; the handler is not). */
export interface RunDefinition {
  /** The backlog: jobs of type T wait in the backend queue `run:<backlog>:<T>`. @default 'default' */
  backlog?: string;
  /** Every job must finish within this time from the start of the run. */
  deadline: Duration;
  /** Workers the run may start, shared by all types. @default 20 */
  maxWorkers?: number;
  types: Readonly<Record<string, RunJobType>>;
  /** Attempts per job before it goes to the dead letters. @default 3 */
  maxAttempts?: number;
  /** How often concurrency is re-planned from what is left and the time left. @default '5s' */
  replanEvery?: Duration;
  /** Lease of a claimed job: a worker that dies holds it at most this long. @default '5s' */
  lease?: Duration;
  /**
   * Added to every endpoint's window in the limiter (and the plan): a call then counts a little longer than
   * the receiver counts it, which absorbs how much the delay between taking quota here and the call
   * arriving there varies (a first connection, a busy event loop: we measured up to 160 ms). Costs
   * `margin / window` of each endpoint's rate. `0` with a fake clock. See src/runs/README.md, "margin".
   * @default '250ms'
   */
  margin?: Duration;
  /** How long in-flight jobs may go on after the deadline or a cancel before they are aborted and released. @default '5s' */
  grace?: Duration;
}

/** The input as stored: every duration in ms, every default applied. */
export interface RunSettings {
  backlog: string;
  deadlineMs: number;
  maxWorkers: number;
  maxAttempts: number;
  replanEveryMs: number;
  leaseMs: number;
  graceMs: number;
  marginMs: number;
  types: Record<string, { durationMs: number; endpoints: PlanEndpoint[] }>;
}

/** A run as recorded in the backend. Every time is ms since the Unix epoch. */
export interface RunRecord {
  id: string;
  status: RunStatus;
  input: RunSettings;
  /** The plan made at the start. */
  plan: Plan;
  /** Concurrency per type right now (the latest re-plan). */
  workers: Record<string, number>;
  /** How many times the run re-planned. */
  replans: number;
  startedAt: number;
  deadlineAt: number;
  /** `startedAt + plan.finishMs`. */
  plannedFinishAt: number;
  /** When its last job finished (null while none did). */
  actualFinishAt: number | null;
  /** When its status left `running`. */
  finishedAt: number | null;
  /** Jobs done per type and endpoint. */
  processed: Record<string, Record<string, number>>;
  /** Failed attempts (each retried or, out of attempts, dead-lettered). */
  failures: number;
  /** Jobs moved to the dead letters of their queue. */
  deadLettered: number;
  /** Jobs of the previous run's leftovers it started with, per type. */
  carriedIn: Record<string, number>;
  /** Jobs still in the backlog when the run stopped, per type: the next run takes them first. */
  leftovers: Record<string, number>;
  /** A cancel was asked for: participants stop claiming and finish or return what they hold. */
  cancelRequested: boolean;
  /** Processes serving the run that have not stopped. */
  participants: number;
  /**
   * Last sign of life of each process serving the run (its owner id → ms), written every
   * `min(replanEvery, lease / 3)`; a process not heard from within three of those is dropped.
   */
  heartbeats: Record<string, number>;
  /**
   * Slots each live process holds per type (owner id → type → slots). Together they never exceed
   * `workers`: a process takes its even share of the plan only out of what the others do not hold.
   */
  shares: Record<string, Record<string, number>>;
  error: string | null;
  /** Bumped on every write: compare-and-set. */
  version: number;
}
