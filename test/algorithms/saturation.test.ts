import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { algorithms } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import type { AlgorithmName, CompiledRule } from '../../src/core/types.js';
import { rule } from './helpers.js';

const ALGORITHMS: readonly AlgorithmName[] = ['sliding-window', 'token-bucket', 'fixed-window'];

/** Offers 1 unit at each time from `times()`; returns how many were admitted. */
function saturate(r: CompiledRule, start: number, end: number, nextGap: () => number): number {
  const algorithm = algorithms[r.algorithm];
  let state: RuleState | undefined;
  let admitted = 0;
  for (let t = start; t < end; t += nextGap()) {
    if (algorithm.wait(state, t, 1, r) === 0) {
      state = algorithm.charge(state, t, 1, r);
      admitted++;
    }
  }
  return admitted;
}

/** What a rule may admit over [0, duration): an upper bound every algorithm must respect. */
function upperBound(r: CompiledRule, duration: number): number {
  const windows = duration / r.windowMs;
  if (r.algorithm === 'token-bucket') return r.capacity + r.limit * windows;
  return r.limit * (Math.ceil(windows) + 1);
}

describe.each(ALGORITHMS)('%s under a saturating caller', (algorithm) => {
  it('trying every ms gets ≥ 99 % of the limit over a long run (and never more than allowed)', () => {
    for (const [limit, window] of [
      [10, 1_000],
      [50, 1_000],
      [7, 999],
      [100, 10_000],
    ] as const) {
      const r = rule({ limit, window, algorithm });
      const start = 1_700_000_000_000 + 123;
      const duration = 200 * window;
      const admitted = saturate(r, start, start + duration, () => 1);
      const fair = (limit * duration) / window;
      expect(admitted, `${limit}/${window}ms`).toBeGreaterThanOrEqual(0.99 * fair);
      expect(admitted, `${limit}/${window}ms`).toBeLessThanOrEqual(upperBound(r, duration));
    }
  });

  it('dense random arrivals get ≥ 99 % of the limit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.constantFrom(1_000, 2_000, 5_000),
        fc.double({ min: 0, max: 1e12, noNaN: true }),
        fc.integer(),
        (limit, window, start, seed) => {
          const r = rule({ limit, window, algorithm });
          let x = seed >>> 0 || 1;
          // Gaps uniform in (0, 1] ms: at least 1,000 tries per window.
          const gap = () => {
            x ^= x << 13;
            x ^= x >>> 17;
            x ^= x << 5;
            return ((x >>> 0) % 1000) / 1000 + 0.001;
          };
          const duration = 40 * window;
          const admitted = saturate(r, start, start + duration, gap);
          const fair = (limit * duration) / window;
          expect(admitted).toBeGreaterThanOrEqual(0.99 * fair);
          expect(admitted).toBeLessThanOrEqual(upperBound(r, duration));
        },
      ),
      { numRuns: 12, seed: 6 },
    );
  });

  it('a caller that sleeps exactly retryAfterMs between tries gets ≥ 99 % of the limit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom(100, 999, 1_000, 60_000),
        fc.integer({ min: 1, max: 5 }),
        fc.double({ min: 0, max: 1.8e12, noNaN: true }),
        (limit, window, cost, start) => {
          const r = rule({ limit, window, algorithm });
          const a = algorithms[algorithm];
          const unitCost = Math.min(cost, limit);
          let state: RuleState | undefined;
          let t = start;
          const end = start + 100 * window;
          let admitted = 0;
          let refusals = 0;
          while (t < end) {
            const wait = a.wait(state, t, unitCost, r);
            if (wait === 0) {
              state = a.charge(state, t, unitCost, r);
              admitted += unitCost;
              continue;
            }
            // A wait must always lead to an admission: never refused twice in a row.
            expect(a.wait(state, t + wait, unitCost, r)).toBe(0);
            refusals++;
            t += wait;
          }
          // With a cost that does not divide the limit, a fixed/sliding window can only fill
          // floor(limit / cost)·cost of each window.
          const perWindow = algorithm === 'token-bucket' ? limit : Math.floor(limit / unitCost) * unitCost;
          expect(admitted).toBeGreaterThanOrEqual(0.99 * perWindow * 100);
          expect(admitted).toBeLessThanOrEqual(upperBound(r, end - start) + unitCost);
          expect(refusals).toBeGreaterThan(0);
        },
      ),
      { numRuns: 60, seed: 7 },
    );
  });
});
