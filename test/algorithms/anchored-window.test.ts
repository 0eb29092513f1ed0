import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anchoredWindow } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import { arrivalsArb, rule, simulate, windowArb } from './helpers.js';

describe('anchored window (go-ratelimit day)', () => {
  it('never admits more than `limit` in a window opened by its first admission after the last ended', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), windowArb, arrivalsArb(8), (limit, window, arrivals) => {
        const admitted = simulate(rule({ limit, window, algorithm: 'anchored-window' }), arrivals);
        // Replay the windows independently of the algorithm: the first admission opens one, which lasts
        // `window`; the first admission at or after its end opens the next.
        let start = Number.NEGATIVE_INFINITY;
        let used = 0;
        for (const { t, cost } of admitted) {
          if (t >= start + window) {
            start = t;
            used = 0;
          }
          used += cost;
          expect(used).toBeLessThanOrEqual(limit + 1e-9 * limit);
        }
      }),
      { numRuns: 400, seed: 5 },
    );
  });

  it('opens at the first charge and ends exactly one window later, whatever was charged meanwhile', () => {
    const r = rule({ limit: 3, window: 1000, algorithm: 'anchored-window' });
    let state: RuleState = anchoredWindow.charge(undefined, 100, 1, r);
    state = anchoredWindow.charge(state, 1050, 2, r);
    expect(state).toEqual([100, 3]);
    expect(anchoredWindow.wait(state, 1099, 1, r)).toBe(1);
    expect(anchoredWindow.remaining(state, 1100, r)).toBe(3);
    // A clock lagging behind the window's start still finds it (never opens an older one).
    expect(anchoredWindow.wait(state, 50, 1, r)).toBe(1050);
    expect(anchoredWindow.charge(state, 1100, 1, r)).toEqual([1100, 1]);
    expect(anchoredWindow.idleAt(state, r)).toBe(1100);
  });

  it('a refund with no window open opens none; a correction of an ended window changes nothing', () => {
    const r = rule({ limit: 3, window: 1000, algorithm: 'anchored-window' });
    const idle = anchoredWindow.adjust(undefined, 500, -1, r);
    expect(anchoredWindow.idleAt(idle, r)).toBe(500);
    expect(anchoredWindow.adjust(idle, 600, 1, r)).toEqual([600, 1]);
    const state: RuleState = [1100, 2];
    expect(anchoredWindow.adjust(state, 1500, -1, r, 900)).toEqual([1100, 2]);
    expect(anchoredWindow.adjust(state, 1500, -1, r, 1200)).toEqual([1100, 1]);
    expect(anchoredWindow.adjust([100, 2], 1500, 1, r, 900)).toEqual([500, 0]);
  });
});
