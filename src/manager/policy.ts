import type { Priority } from '../backends/types.js';

/** The shares of capacity the admission policy works with (see {@link admit}). */
export interface PolicyLimits {
  /** Messages per window: the quota's capacity `C`. */
  capacity: number;
  /** Quota is low when what is left is at most this share of capacity. */
  lowQuotaThreshold: number;
  /** Batches larger than this share of capacity are refused. */
  maxBatchFraction: number;
}

/** How much quota is left for a batch of `size`: `exhausted` when it does not fit at all. */
export type QuotaState = 'available' | 'low' | 'exhausted';

/**
 * What to do with an offered batch: `too-large` (never sent: `dropped-batch-too-large`), `send` now,
 * `enqueue` it, or `drop` it (`dropped`).
 */
export type Admission = 'too-large' | 'send' | 'enqueue' | 'drop';

/** `exhausted` when `remaining < size`, `low` when `remaining ≤ lowQuotaThreshold·C`, else `available`. */
export function quotaState(size: number, remaining: number, limits: PolicyLimits): QuotaState {
  if (remaining < size) return 'exhausted';
  return remaining <= limits.lowQuotaThreshold * limits.capacity ? 'low' : 'available';
}

/**
 * The seed-000 admission policy, a pure function of the batch size `n`, the quota left `r` and the
 * priority:
 *
 * | | critical | normal | optional |
 * |---|---|---|---|
 * | `n > maxBatchFraction·C` | too-large | too-large | too-large |
 * | exhausted (`r < n`) | enqueue | enqueue | drop |
 * | low (`r ≤ lowQuotaThreshold·C`) | send | enqueue | drop |
 * | available | send | send | send |
 *
 * `send` is what the quota allows; the manager still queues the batch when older messages of the same or
 * a higher priority wait, or when its own scopes refuse it.
 */
export function admit(size: number, remaining: number, priority: Priority, limits: PolicyLimits): Admission {
  if (size > limits.maxBatchFraction * limits.capacity) return 'too-large';
  const state = quotaState(size, remaining, limits);
  if (state === 'available' || (state === 'low' && priority === 'critical')) return 'send';
  return priority === 'optional' ? 'drop' : 'enqueue';
}
