import { windowStart } from '../../algorithms/fixed-window.js';
import { type Duration, parsePositiveDuration } from '../../core/duration.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Rule } from '../../core/types.js';

export interface RlnEpochOptions {
  /** Messages per epoch: the membership's rate limit. An integer ≥ 1. */
  capacity: number;
  /** Length of an epoch (ms or `'10m'`-style). Epochs are aligned to Unix time. */
  epoch: Duration;
}

/**
 * An RLN (rate-limiting nullifier) epoch: `capacity` messages per fixed epoch aligned to Unix time, epoch
 * `floor(now / epoch)`. Sending more than that in one epoch would reveal the sender's key, so the window is
 * fixed (not sliding): a new epoch gives the whole capacity back at once.
 */
export interface RlnEpoch {
  readonly capacity: number;
  readonly epochMs: number;
  /** The rule for a `RateLimiter` scope: `{ limit: capacity, window: epoch, algorithm: 'fixed-window' }`. */
  readonly rule: Readonly<Rule>;
  /**
   * The quota options of a `RateLimitManager`, to spread into its options.
   * @example new RateLimitManager({ ...rlnEpoch({ capacity: 100, epoch: '10m' }).manager, sender })
   */
  readonly manager: Readonly<{ capacity: number; duration: number; algorithm: 'fixed-window' }>;
  /** The epoch containing `now` (ms since the Unix epoch): `floor(now / epochMs)`. */
  epochIndex(now: number): number;
  /** When epoch `index` begins (ms since the Unix epoch). */
  epochStart(index: number): number;
  /** ms from `now` until the epoch containing it ends and the capacity returns (> 0). */
  epochEndsIn(now: number): number;
}

/**
 * The RLN epoch profile.
 * @throws InvalidArgumentError for a capacity that is not an integer ≥ 1 or an epoch that is not a
 *   positive whole number of ms.
 * @example
 * const rln = rlnEpoch({ capacity: 10, epoch: '1m' });
 * const manager = new RateLimitManager({ ...rln.manager, sender, backend });
 * rln.epochIndex(Date.now());   // the nullifier epoch messages are proved for
 * rln.epochEndsIn(Date.now());  // when the quota comes back
 */
export function rlnEpoch(options: RlnEpochOptions): RlnEpoch {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', 'an options object { capacity, epoch }', options);
  }
  const { capacity } = options;
  if (typeof capacity !== 'number' || !Number.isInteger(capacity) || capacity < 1) {
    throw new InvalidArgumentError('capacity', 'an integer >= 1', capacity);
  }
  const epochMs = parsePositiveDuration(options.epoch, 'epoch');
  if (!Number.isInteger(epochMs)) {
    throw new InvalidArgumentError('epoch', 'a whole number of milliseconds', options.epoch);
  }
  const checkNow = (now: number): number => {
    if (typeof now !== 'number' || !Number.isFinite(now)) {
      throw new InvalidArgumentError('now', 'a finite number of ms since the Unix epoch', now);
    }
    return now;
  };
  return Object.freeze({
    capacity,
    epochMs,
    rule: Object.freeze({
      limit: capacity,
      window: epochMs,
      algorithm: 'fixed-window',
      name: 'rln-epoch',
    } as const),
    manager: Object.freeze({ capacity, duration: epochMs, algorithm: 'fixed-window' } as const),
    epochIndex: (now: number) => Math.floor(checkNow(now) / epochMs),
    epochStart: (index: number) => {
      if (!Number.isInteger(index)) throw new InvalidArgumentError('index', 'an integer epoch index', index);
      return index * epochMs;
    },
    epochEndsIn: (now: number) => windowStart(checkNow(now), epochMs) + epochMs - now,
  });
}
