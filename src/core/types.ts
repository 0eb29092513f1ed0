import type { Duration } from './duration.js';

/** The algorithms a {@link Rule} can use. */
export type AlgorithmName = 'sliding-window' | 'token-bucket' | 'fixed-window' | 'anchored-window';

/**
 * At most `limit` units of `unit` per `window`.
 * @example { limit: 30, window: '1s' }                       // 30 requests per second, sliding window
 * @example { limit: 1_000_000, window: '1m', unit: 'tokens' } // a TPM limit
 * @example { limit: 10, window: '1s', algorithm: 'token-bucket', burst: 20 }
 */
export interface Rule {
  /** Units admitted per window. A non-negative finite number. */
  limit: number;
  /** Length of the window (ms or `'1m'`-style string). Greater than zero. */
  window: Duration;
  /**
   * Changing it under the same `name` starts the rule's usage over (the old algorithm's state is not read).
   * @default 'sliding-window'
   */
  algorithm?: AlgorithmName;
  /** What the limit counts; matched against the request's cost. @default 'requests' */
  unit?: string;
  /** Token bucket only: the bucket's capacity. @default limit */
  burst?: number;
  /**
   * Identifies the rule's stored state: changing `limit` (or `burst`) keeps it, changing `algorithm` starts it
   * over (a state records the algorithm that wrote it). @default `${unit}/${windowMs}ms`
   */
  name?: string;
}

/** A rule with every default applied and its constants precomputed. Produced by `compileRule`. */
export interface CompiledRule {
  readonly name: string;
  readonly algorithm: AlgorithmName;
  readonly unit: string;
  readonly limit: number;
  readonly windowMs: number;
  /** Largest cost one request may have: `burst` for token buckets, `limit` otherwise. */
  readonly capacity: number;
  /** Sliding window: sub-window length in ms. Token bucket: ms per unit (emission interval). */
  readonly step: number;
}

/** What a request costs, per unit. A number is shorthand for `{ requests: n }`. */
export type Cost = number | Readonly<Record<string, number>>;

/** A request passing through one or more scopes. */
export interface LimitRequest {
  /** The scope keys it passes through, e.g. `['global', 'chat:42']`. */
  scopes: string | readonly string[];
  /** @default { requests: 1 } */
  cost?: Cost;
  /**
   * Per-scope costs overriding `cost` for the scopes named, e.g. a batch of 3 messages, 2 of them to
   * `chat:1`: `{ scopes: ['global', 'chat:1', 'chat:2'], cost: 3, costs: { 'chat:1': 2, 'chat:2': 1 } }`.
   */
  costs?: Readonly<Record<string, Cost>>;
  /**
   * An endpoint pool: the request is charged on its own `scopes` plus exactly ONE alternative — the first
   * (the primary) when it admits, else the first of the others that admits, tried round-robin (each request of
   * a pool starts one further along). Atomic, in one store round trip; a refused alternative is never charged.
   * `Decision.alternative` says which one it got. Alternatives must not name the request's own scopes.
   * @example { scopes: 'global', alternatives: [{ scopes: 'rebalance' }, { scopes: 'rebalance-overflow-1' }] }
   */
  alternatives?: readonly LimitAlternative[];
}

/** One alternative of a request's endpoint pool (see {@link LimitRequest.alternatives}). */
export interface LimitAlternative {
  /** Its scope keys, e.g. an endpoint's scope. */
  scopes: string | readonly string[];
  /** @default the request's `cost` */
  cost?: Cost;
  /** Per-scope costs, as in {@link LimitRequest.costs}. @default the request's `costs` */
  costs?: Readonly<Record<string, Cost>>;
}

/** Why a request was refused. */
export interface BlockedBy {
  scope: string;
  /** The rule's name, or `'block'` when the scope was blocked by `block()`. */
  rule: string;
  unit: string;
}

/** The answer to one admission request. */
export interface Decision {
  allowed: boolean;
  /** 0 when allowed; otherwise the exact wait until this request would be admitted (Infinity if never). */
  retryAfterMs: number;
  /** Units left (after this charge, if allowed) in the tightest rule: the blocking one, or the one nearest its limit. */
  remaining: number;
  /** The limit of that same rule. */
  limit: number;
  /** The rule or block that refused the request; null when allowed. */
  blockedBy: BlockedBy | null;
  /**
   * Requests with `alternatives` only: the index (into `alternatives`) of the one admitted and charged; when
   * refused, of the one that would admit first (whose wait and binding rule the decision reports).
   */
  alternative?: number;
}

/** Usage of one rule of one scope at a moment. */
export interface RuleStats {
  scope: string;
  rule: string;
  unit: string;
  algorithm: AlgorithmName;
  limit: number;
  windowMs: number;
  used: number;
  remaining: number;
  /** ms until the rule is fully replenished (0 when unused). */
  resetMs: number;
  /** ms until a `block()` on the scope ends (0 when not blocked). */
  blockedMs: number;
}
