import type { Backend, Priority, QueuedMessage } from '../backends/types.js';
import { PRIORITIES } from '../backends/types.js';
import { type Clock, type ClockLike, toClock } from '../core/clock.js';
import { type Duration, parseDuration, parsePositiveDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { AlgorithmName, Rule } from '../core/types.js';
import { type Backoff, compileBackoff, type RetryOptions } from './backoff.js';
import type { SendOutcome } from './dispatcher.js';
import type { Logger } from './events.js';

/** What the sender is told besides the batch. */
export interface SendContext {
  /** Store id of the batch. */
  jobId: string;
  priority: Priority;
  /** 1 for the first delivery, 2 for the first retry, … */
  attempt: number;
  /** Limiter scopes of the batch (besides the manager's quota). */
  scopes: readonly string[];
  /**
   * When the batch passes through an endpoint pool (see `pools`): the index of the alternative it was
   * admitted on (and charged), 0 for the pool's primary.
   */
  alternative?: number;
}

/**
 * Delivers a batch. Resolve when the receiver accepted it; throw to retry (see `classifyFailure`):
 * `RetryAfterError` / 429 answers wait exactly as told, `PermanentError` / 4xx go to dead letters.
 * Resolve with `{ failed: [{ id, error }] }` when only some messages failed (see {@link SendOutcome}):
 * the delivered ones are never sent again, and each failed one goes on as its own error says (a permanent
 * one to dead letters at once, whatever its siblings got). Any other value counts as "all delivered".
 */
export type Sender<T> = (batch: Array<QueuedMessage<T>>, context: SendContext) => unknown;

/** A message offered to {@link RateLimitManager.sendOrEnqueue}. */
export interface ManagerMessage<T> {
  /** Unique among messages not yet finished (queued, in flight, retrying or dead-lettered). */
  id: string;
  payload: T;
  /** Limiter scopes this message passes through besides the manager's quota, e.g. `'chat:42'`. */
  scopes?: string | readonly string[];
}

export interface RateLimitManagerOptions<T> {
  /** Delivers batches. */
  sender: Sender<T>;
  /** Messages per `duration`: the manager's own quota. */
  capacity: number;
  /** The quota's window, e.g. `'10m'`. */
  duration: Duration;
  /** Pause between background passes. @default '100ms' */
  sleep?: Duration;
  /** @default new MemoryBackend() */
  backend?: Backend;
  /** `{ now() }` is enough: without `sleep`, waits use real timers. @default systemClock */
  clock?: ClockLike;
  /** Algorithm of the manager's own quota. `'fixed-window'` gives RLN epochs. @default 'sliding-window' */
  algorithm?: AlgorithmName;
  /** Names this manager's queue and quota in a shared backend. @default 'default' */
  name?: string;
  /** Rules of the per-message scopes, by pattern (as in `RateLimiter`), e.g. `{ 'chat:*': { limit: 1, window: '1s' } }`. */
  scopes?: Readonly<Record<string, Rule | readonly Rule[]>>;
  /**
   * Endpoint pools: a message scope that names a pool is admitted on ONE of its alternatives — the first
   * (the primary) while it has quota, else the others round-robin — atomically with the rest of the batch
   * (see `LimitRequest.alternatives`). A queued batch keeps its pool; the sender is told the alternative
   * it got (`context.alternative`). A batch may pass through at most one pool.
   * @example { 'target:hooks': ['target:hooks#0', 'target:hooks#1'] } // each alternative: scope(s) with their own rules
   */
  pools?: Readonly<Record<string, ReadonlyArray<string | readonly string[]>>>;
  /** Quota is low when what is left is at most this share of capacity. @default 0.3 */
  lowQuotaThreshold?: number;
  /** Batches larger than this share of capacity are dropped (`dropped-batch-too-large`). @default 0.3 */
  maxBatchFraction?: number;
  /** @default { maxAttempts: 5, baseDelay: '1s', maxDelay: '1m' } */
  retry?: RetryOptions;
  /** Batches in the sender at once. @default 16 */
  concurrency?: number;
  /**
   * How long a batch handed to the sender stays leased without renewal. The manager renews the leases of
   * its batches every `leaseTime / 3` while the sender works, so this bounds how soon another process (or
   * the next start) redelivers the batches of a process that died — about `leaseTime` plus a second —
   * not how long a sender may take. A process stalled longer than this (a frozen event loop) may lose its
   * leases to another process, which then delivers those batches again; the process itself renews its
   * leases before it looks for expired ones, so a stall does not make it resend the batches it holds. @default '5s'
   */
  leaseTime?: Duration;
  /**
   * Where background failures go when nobody listens to `error` (pino-compatible: `warn(obj, msg)`).
   * @default a one-line warning on stderr, at most one a second
   */
  logger?: Logger;
  /** How long statuses of finished messages are kept. @default '1d' */
  retention?: Duration;
  /** Source of jitter in [0, 1). @default Math.random */
  random?: () => number;
}

export interface ResolvedOptions<T> {
  sender: Sender<T>;
  capacity: number;
  durationMs: number;
  sleepMs: number;
  clock: Clock;
  algorithm: AlgorithmName;
  name: string;
  lowQuotaThreshold: number;
  maxBatchFraction: number;
  backoff: Backoff;
  concurrency: number;
  leaseMs: number;
  retentionMs: number;
  random: () => number;
  /** Pool name → its alternatives' scopes. */
  pools: ReadonlyMap<string, ReadonlyArray<readonly string[]>>;
}

function fraction(value: unknown, field: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new InvalidArgumentError(field, 'a number between 0 and 1', value);
  }
  return value;
}

export function resolveOptions<T>(options: RateLimitManagerOptions<T>): ResolvedOptions<T> {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError(
      'options',
      'an options object with sender, capacity and duration',
      options,
    );
  }
  if (typeof options.sender !== 'function') {
    throw new InvalidArgumentError('sender', 'an async function (batch, context) => void', options.sender);
  }
  const { capacity } = options;
  if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 1) {
    throw new InvalidArgumentError('capacity', 'an integer >= 1', capacity);
  }
  const concurrency = options.concurrency ?? 16;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidArgumentError('concurrency', 'an integer >= 1', concurrency);
  }
  const name = options.name ?? 'default';
  if (typeof name !== 'string' || name.length === 0)
    throw new InvalidArgumentError('name', 'a non-empty string', name);
  const random = options.random ?? Math.random;
  if (typeof random !== 'function')
    throw new InvalidArgumentError('random', 'a function returning [0, 1)', random);
  return {
    sender: options.sender,
    capacity,
    durationMs: parsePositiveDuration(options.duration, 'duration'),
    sleepMs: parsePositiveDuration(options.sleep ?? '100ms', 'sleep'),
    clock: toClock(options.clock),
    algorithm: options.algorithm ?? 'sliding-window',
    name,
    lowQuotaThreshold: fraction(options.lowQuotaThreshold, 'lowQuotaThreshold', 0.3),
    maxBatchFraction: fraction(options.maxBatchFraction, 'maxBatchFraction', 0.3),
    backoff: compileBackoff(options.retry),
    concurrency,
    leaseMs: parsePositiveDuration(options.leaseTime ?? '5s', 'leaseTime'),
    retentionMs: parseDuration(options.retention ?? '1d', 'retention'),
    random,
    pools: resolvePools(options.pools),
  };
}

function resolvePools(pools: unknown): ReadonlyMap<string, ReadonlyArray<readonly string[]>> {
  const out = new Map<string, ReadonlyArray<readonly string[]>>();
  if (pools === undefined) return out;
  if (pools === null || typeof pools !== 'object') {
    throw new InvalidArgumentError('pools', 'an object: pool scope → alternatives', pools);
  }
  for (const [name, alternatives] of Object.entries(pools)) {
    if (!Array.isArray(alternatives) || alternatives.length === 0) {
      throw new InvalidArgumentError(`pools.${name}`, 'a non-empty array of alternatives', alternatives);
    }
    out.set(
      name,
      alternatives.map((alt, i) => {
        const list = scopeList(alt, `pools.${name}[${i}]`);
        if (list.length === 0 || list.includes(name)) {
          throw new InvalidArgumentError(`pools.${name}[${i}]`, 'scopes other than the pool itself', alt);
        }
        return list;
      }),
    );
  }
  return out;
}

export function assertPriority(priority: unknown): asserts priority is Priority {
  if (!PRIORITIES.includes(priority as Priority)) {
    throw new InvalidArgumentError('priority', `one of ${PRIORITIES.join(', ')}`, priority);
  }
}

function scopeList(scopes: unknown, field: string): readonly string[] {
  if (scopes === undefined) return [];
  const list = typeof scopes === 'string' ? [scopes] : scopes;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s.length === 0)) {
    throw new InvalidArgumentError(field, 'a scope key or an array of scope keys', scopes);
  }
  return list;
}

/** A validated batch: messages stripped to `{ id, payload }`, and its scopes with each one's share. */
export interface PreparedBatch<T> {
  messages: Array<QueuedMessage<T>>;
  ids: string[];
  /** Distinct scopes, sorted. */
  scopes: string[];
  /** Messages per scope. */
  costs: Record<string, number>;
  /** FIFO lane: the sorted scopes joined with ','. */
  lane: string;
}

const NO_SCOPES: string[] = [];
const NO_COSTS: Record<string, number> = {};

export function prepareBatch<T>(batch: unknown, extraScopes: readonly string[]): PreparedBatch<T> {
  if (!Array.isArray(batch) || batch.length === 0) {
    throw new InvalidArgumentError('batch', 'a non-empty array of { id, payload }', batch);
  }
  if (batch.length === 1 && extraScopes.length === 0) {
    // The common case, without the bookkeeping of scopes and repeated ids.
    const message = batch[0] as ManagerMessage<T>;
    if (message !== null && typeof message === 'object' && message.scopes === undefined) {
      const { id } = message;
      if (typeof id !== 'string' || id.length === 0) {
        throw new InvalidArgumentError('batch[0].id', 'a non-empty string', id);
      }
      return {
        messages: [{ id, payload: message.payload }],
        ids: [id],
        scopes: NO_SCOPES,
        costs: NO_COSTS,
        lane: '',
      };
    }
  }
  const messages: Array<QueuedMessage<T>> = new Array(batch.length);
  const ids: string[] = new Array(batch.length);
  const seen = new Set<string>();
  const costs: Record<string, number> = {};
  for (let i = 0; i < batch.length; i++) {
    const message = batch[i] as ManagerMessage<T>;
    if (message === null || typeof message !== 'object') {
      throw new InvalidArgumentError(`batch[${i}]`, 'an object { id, payload }', message);
    }
    const { id } = message;
    if (typeof id !== 'string' || id.length === 0) {
      throw new InvalidArgumentError(`batch[${i}].id`, 'a non-empty string', id);
    }
    if (seen.has(id)) throw new InvalidArgumentError(`batch[${i}].id`, 'ids distinct within the batch', id);
    seen.add(id);
    ids[i] = id;
    messages[i] = { id, payload: message.payload };
    const own = scopeList(message.scopes, `batch[${i}].scopes`);
    for (const scope of new Set([...own, ...extraScopes])) costs[scope] = (costs[scope] ?? 0) + 1;
  }
  const scopes = Object.keys(costs).sort();
  return { messages, ids, scopes, costs, lane: scopes.join(',') };
}

export function batchOptionScopes(scopes: unknown): readonly string[] {
  return scopeList(scopes, 'options.scopes');
}
