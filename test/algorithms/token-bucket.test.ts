import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tokenBucket } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import { arrivalsArb, rule, simulate } from './helpers.js';

describe('token bucket (GCRA)', () => {
  it('never admits more than burst + rate·t in any interval of length t', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.constantFrom(1, 7, 100, 700, 999, 1000, 60_000),
        fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
        arrivalsArb(8),
        (limit, window, burst, arrivals) => {
          const r = rule({
            limit,
            window,
            algorithm: 'token-bucket',
            ...(burst === undefined ? {} : { burst }),
          });
          const capacity = burst ?? limit;
          const admitted = simulate(r, arrivals);
          for (let i = 0; i < admitted.length; i++) {
            let sum = 0;
            for (let j = i; j < admitted.length; j++) {
              sum += admitted[j]!.cost;
              const t = admitted[j]!.t - admitted[i]!.t;
              const bound = capacity + (limit * t) / window;
              // Tolerance for doubles at epoch magnitudes (t is exact to ~0.5 µs there).
              expect(sum, `interval [${i}, ${j}]`).toBeLessThanOrEqual(
                bound + 1e-6 * bound + 1e-3 * (limit / window),
              );
            }
          }
        },
      ),
      { numRuns: 300, seed: 5 },
    );
  });

  it('refuses past the burst at one instant', () => {
    const admitted = simulate(rule({ limit: 2, window: 1000, algorithm: 'token-bucket' }), [
      { t: 0, cost: 1 },
      { t: 0, cost: 1 },
      { t: 0, cost: 1 },
    ]);
    expect(admitted).toHaveLength(2);
  });

  it('refills continuously with fractional emission intervals', () => {
    const r = rule({ limit: 3, window: 1000, algorithm: 'token-bucket' });
    expect(r.step).toBeCloseTo(1000 / 3, 12);
    let state: RuleState | undefined;
    for (let i = 0; i < 3; i++) state = tokenBucket.charge(state, 0, 1, r);
    const wait = tokenBucket.wait(state, 0, 1, r);
    expect(wait).toBeCloseTo(333.333333, 5);
    expect(tokenBucket.wait(state, wait, 1, r)).toBe(0);
    expect(tokenBucket.wait(state, wait - 1e-6, 1, r)).toBeGreaterThan(0);
    expect(tokenBucket.remaining(state, 1000, r)).toBe(3);
    expect(tokenBucket.remaining(state, 999, r)).toBe(2);
  });

  it('a burst larger than the limit is admitted at once, then the rate applies', () => {
    const r = rule({ limit: 10, window: 1000, algorithm: 'token-bucket', burst: 25 });
    const atOnce = simulate(
      r,
      Array.from({ length: 40 }, () => ({ t: 0, cost: 1 })),
    );
    expect(atOnce).toHaveLength(25);
    expect(tokenBucket.wait(undefined, 0, 26, r)).toBe(Number.POSITIVE_INFINITY);
  });

  it('adjust moves the theoretical arrival time but never gives credit beyond a full bucket', () => {
    const r = rule({ limit: 10, window: 1000, algorithm: 'token-bucket' });
    let state: RuleState = tokenBucket.charge(undefined, 0, 10, r);
    state = tokenBucket.adjust(state, 0, -4, r);
    expect(tokenBucket.remaining(state, 0, r)).toBe(4);
    state = tokenBucket.adjust(state, 0, -100, r);
    expect(tokenBucket.remaining(state, 0, r)).toBe(10);
    expect(
      simulate(
        r,
        Array.from({ length: 20 }, () => ({ t: 0, cost: 1 })),
      ),
    ).toHaveLength(10);
  });
});
