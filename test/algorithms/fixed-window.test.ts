import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixedWindow } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import { arrivalsArb, rule, simulate, windowArb } from './helpers.js';

describe('fixed window', () => {
  it('never admits more than `limit` per aligned epoch floor(now / window)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), windowArb, arrivalsArb(8), (limit, window, arrivals) => {
        const admitted = simulate(rule({ limit, window, algorithm: 'fixed-window' }), arrivals);
        const perEpoch = new Map<number, number>();
        for (const { t, cost } of admitted) {
          const epoch = Math.floor(t / window);
          perEpoch.set(epoch, (perEpoch.get(epoch) ?? 0) + cost);
        }
        for (const used of perEpoch.values()) expect(used).toBeLessThanOrEqual(limit + 1e-9 * limit);
      }),
      { numRuns: 400, seed: 3 },
    );
  });

  it('admits the full limit in every epoch it is asked to (no carry-over)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        windowArb,
        fc.integer({ min: 0, max: 1e6 }),
        (limit, window, epoch) => {
          const r = rule({ limit, window, algorithm: 'fixed-window' });
          const start = epoch * window;
          const arrivals = Array.from({ length: limit * 3 }, (_, i) => ({
            t: start + (i % 2) * (window / 2),
            cost: 1,
          }));
          expect(simulate(r, arrivals)).toHaveLength(limit);
          // The next epoch starts fresh, exactly at its boundary.
          const next = simulate(r, [...arrivals, ...arrivals.map((a) => ({ ...a, t: start + window }))]);
          expect(next).toHaveLength(2 * limit);
        },
      ),
      { numRuns: 100, seed: 4 },
    );
  });

  it('waits until the end of the aligned window', () => {
    const r = rule({ limit: 2, window: '1m', algorithm: 'fixed-window' });
    const state: RuleState = fixedWindow.charge(undefined, 60_000 * 5 + 10, 2, r);
    expect(fixedWindow.wait(state, 60_000 * 5 + 59_999.5, 1, r)).toBe(0.5);
    expect(fixedWindow.wait(state, 60_000 * 6, 1, r)).toBe(0);
    expect(fixedWindow.remaining(state, 60_000 * 6, r)).toBe(2);
    expect(fixedWindow.wait(state, 0, 3, r)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('fixed window under clock skew', () => {
  it('a state never moves back to an older window: random interleavings of two clocks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10 }),
        windowArb,
        fc.integer({ min: 0, max: 5_000_000 }),
        fc.array(fc.record({ lag: fc.boolean(), dt: fc.integer({ min: 0, max: 500 }) }), { maxLength: 60 }),
        (limit, window, lagMs, steps) => {
          const r = rule({ limit, window, algorithm: 'fixed-window' });
          let now = 10_000_000;
          let state: RuleState | undefined;
          let newestStart = Number.NEGATIVE_INFINITY;
          for (const step of steps) {
            now += step.dt;
            // The lagging process reads its clock `lagMs` behind.
            const at = step.lag ? now - lagMs : now;
            if (fixedWindow.wait(state, at, 1, r) === 0) state = fixedWindow.charge(state, at, 1, r);
            if (state) {
              expect(state[0]!).toBeGreaterThanOrEqual(newestStart);
              newestStart = state[0]!;
              // The window a state holds is never over its limit.
              expect(state[1]!).toBeLessThanOrEqual(limit);
            }
          }
        },
      ),
      { numRuns: 300, seed: 12 },
    );
  });

  it('a correction with `at` in an ended window changes nothing; in the current one it applies', () => {
    const r = rule({ limit: 10, window: 1000, algorithm: 'fixed-window' });
    const state: RuleState = fixedWindow.charge(undefined, 1500, 4, r);
    expect(fixedWindow.adjust(state, 1600, -3, r, 900)).toEqual([1000, 4]);
    expect(fixedWindow.adjust(state, 1600, 5, r, 900)).toEqual([1000, 4]);
    expect(fixedWindow.adjust(state, 1600, -3, r, 1500)).toEqual([1000, 1]);
  });
});
