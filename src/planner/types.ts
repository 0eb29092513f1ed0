import type { Duration } from '../core/duration.js';
import type { AlgorithmName } from '../core/types.js';

/**
 * One endpoint a job type can call: its name and its own rate limit (a {@link Rule} counted in calls).
 * @example { name: 'rebalance', limit: 30, window: '1m' }
 * @example { name: 'burst-api', limit: 10, window: '1s', algorithm: 'token-bucket', burst: 20 }
 */
export interface PlanEndpoint {
  /** Unique within its type; the key of {@link TypePlan.endpoints}. */
  name: string;
  /** Calls admitted per `window`. An integer ≥ 1. */
  limit: number;
  /** The limit's window (ms or `'1m'`-style). Greater than zero. */
  window: Duration;
  /** @default 'sliding-window' */
  algorithm?: AlgorithmName;
  /** Token bucket only: calls admitted at once from a full bucket. An integer ≥ 1. @default limit */
  burst?: number;
}

/** One job type of a run: its backlog, how long one job takes and the endpoints that serve it. */
export interface PlanJobType {
  /** Jobs waiting now. An integer ≥ 0. */
  backlog: number;
  /** Time one job occupies a worker (the call to its endpoint), ms or `'2s'`-style. Greater than zero. */
  duration: Duration;
  /** Primary first, then overflow endpoints, each with its own limit. At least one. */
  endpoints: readonly PlanEndpoint[];
}

/** What {@link plan} needs to know about a run. */
export interface PlanInput {
  /** Every job must finish within this time from the start of the run. */
  deadline: Duration;
  /** Workers the run may start, shared by all types. An integer ≥ 1. */
  maxWorkers: number;
  /** The job types by name. */
  types: Readonly<Record<string, PlanJobType>>;
  /** Jobs left over by the previous run, per type: added to that type's backlog and served first. */
  leftovers?: Readonly<Record<string, number>>;
  /**
   * When the run starts (ms since the Unix epoch or a Date). Only fixed windows (aligned to Unix time) and
   * the sub-windows of sliding windows depend on it. Without it the plan assumes the start falls on a
   * boundary of every window, where each endpoint admits the least: for endpoints sharing one rule, a run
   * starting anywhere else finishes at least as many jobs (see src/planner/README.md).
   */
  start?: number | Date;
}

/** What limits the plan. */
export interface Bottleneck {
  /**
   * `none`: every job finishes by the deadline. `rate`: a type's endpoints together cannot admit its jobs
   * before the deadline. `workers`: the worker cap leaves work over. `time`: one job takes longer than the
   * deadline. When several apply, the one that leaves the most jobs over.
   */
  kind: 'none' | 'workers' | 'rate' | 'time';
  /** The type it applies to (for `workers`, the type the cap leaves the most jobs of). */
  type?: string;
  /** For `rate`: the type's endpoint that admits the fewest calls before the deadline (primary on ties). */
  endpoint?: string;
}

/** The plan of one job type. */
export interface TypePlan {
  /** Leftovers of the previous run plus the backlog. */
  jobs: number;
  /** Workers given to this type for the run. */
  workers: number;
  /** Predicted time from the start until its last planned job finishes (0 when none runs). */
  finishMs: number;
  /** Its jobs that will not finish by the deadline. */
  leftover: number;
  /** Jobs planned per endpoint (primary first, overflow as the primary runs out of quota). */
  endpoints: Record<string, number>;
}

/** The result of {@link plan}. */
export interface Plan {
  /** True when every job finishes by the deadline. */
  feasible: boolean;
  /** Workers to start (the sum over types, ≤ maxWorkers). */
  workers: number;
  /** Predicted time from the start until the last planned job finishes (0 when none runs). */
  finishMs: number;
  /** Jobs that will not finish by the deadline (sum over types). */
  leftover: number;
  bottleneck: Bottleneck;
  /**
   * True when the prediction is exact for the run's start: `start` was given, or no rule depends on where
   * the start falls (token buckets only). False: exact for a start on a boundary of every window, a bound
   * for other starts (see `start`).
   */
  exact: boolean;
  /** The deadline in ms. */
  deadlineMs: number;
  types: Record<string, TypePlan>;
}
