import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SLIDING_SUBWINDOWS, slidingStep, slidingWindow } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import { type Admitted, arrivalsArb, prng, rule, simulate, windowArb } from './helpers.js';

/** The largest total admitted in any half-open interval [t, t + window). */
function maxInAnyWindow(admitted: readonly Admitted[], window: number): number {
  let max = 0;
  let sum = 0;
  let end = 0;
  // Intervals starting at an admission are enough: any interval can slide right to its first admission.
  for (let start = 0; start < admitted.length; start++) {
    while (end < admitted.length && admitted[end]!.t < admitted[start]!.t + window)
      sum += admitted[end++]!.cost;
    max = Math.max(max, sum);
    sum -= admitted[start]!.cost;
  }
  return max;
}

describe('sliding window', () => {
  it('never admits more than `limit` in ANY interval of length `window`', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), windowArb, arrivalsArb(8), (limit, window, arrivals) => {
        const r = rule({ limit, window });
        const admitted = simulate(r, arrivals);
        expect(maxInAnyWindow(admitted, window)).toBeLessThanOrEqual(limit + 1e-9 * limit);
      }),
      { numRuns: 400, seed: 1 },
    );
  });

  it('the check itself catches a burst over the limit', () => {
    // Guards the checker above: 3 admissions within one window of limit 2 must be seen.
    const admitted = [0, 500, 999].map((t) => ({ t, cost: 1, wait: 0 }));
    expect(maxInAnyWindow(admitted, 1000)).toBe(3);
    expect(maxInAnyWindow(admitted, 999)).toBe(2);
  });

  it('admits again exactly when the oldest sub-window expires (step = window/200)', () => {
    const r = rule({ limit: 2, window: 1000 });
    expect(r.step).toBe(5);
    let state: RuleState | undefined;
    state = slidingWindow.charge(state, 1002, 1, r); // sub-window [1000, 1005)
    state = slidingWindow.charge(state, 1400, 1, r);
    // Counted as if at 1005, so until 2005.
    expect(slidingWindow.wait(state, 1500, 1, r)).toBe(505);
    expect(slidingWindow.wait(state, 2004.999, 1, r)).toBeGreaterThan(0);
    expect(slidingWindow.wait(state, 2005, 1, r)).toBe(0);
    // Two units need both to expire: 1400 is in [1400, 1405) → 2405.
    expect(slidingWindow.wait(state, 1500, 2, r)).toBe(905);
    expect(slidingWindow.remaining(state, 2005, r)).toBe(1);
  });

  it('keeps at most window/step + 1 sub-window pairs, whatever the traffic', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000 }),
        windowArb,
        arrivalsArb(50, 500),
        (limit, window, arrivals) => {
          const r = rule({ limit, window });
          let state: RuleState | undefined;
          let maxPairs = 0;
          for (const { t, cost } of arrivals) {
            // Usage reported after the fact is recorded even past the limit: the state must stay bounded too.
            state = slidingWindow.adjust(state, t, cost, r);
            maxPairs = Math.max(maxPairs, state.length / 2);
          }
          expect(maxPairs).toBeLessThanOrEqual(Math.ceil(window / slidingStep(window)) + 1);
        },
      ),
      { numRuns: 200, seed: 2 },
    );
  });

  it('stays at ≤ 201 pairs for 1,000,000 tokens per minute under heavy traffic', () => {
    const r = rule({ limit: 1_000_000, window: '1m', unit: 'tokens' });
    expect(r.step).toBe(60_000 / SLIDING_SUBWINDOWS);
    const random = prng(42);
    let state: RuleState | undefined;
    let t = 1_700_000_000_000;
    let maxPairs = 0;
    let admitted = 0;
    for (let i = 0; i < 100_000; i++) {
      t += random() * 60; // ~10 minutes of requests, 1,000 per minute
      const cost = 1 + Math.floor(random() * 4_000);
      if (slidingWindow.wait(state, t, cost, r) === 0) {
        state = slidingWindow.charge(state, t, cost, r);
        admitted += cost;
      }
      maxPairs = Math.max(maxPairs, state ? state.length / 2 : 0);
    }
    expect(admitted).toBeGreaterThan(9_000_000); // the limit really was the constraint
    expect(maxPairs).toBeLessThanOrEqual(201);
    expect(maxPairs).toBeGreaterThan(100); // the bound was really exercised
  });

  it('refunds the newest usage first and never goes below zero', () => {
    const r = rule({ limit: 10, window: 1000 });
    let state: RuleState = slidingWindow.charge(undefined, 0, 4, r);
    state = slidingWindow.charge(state, 500, 4, r);
    state = slidingWindow.adjust(state, 600, -5, r);
    // 3 units left, all in the oldest sub-window: they expire at 5 + 1000.
    expect(slidingWindow.remaining(state, 600, r)).toBe(7);
    expect(slidingWindow.remaining(state, 1005, r)).toBe(10);
    state = slidingWindow.adjust(state, 600, -100, r);
    expect(state).toEqual([]);
    expect(slidingWindow.remaining(state, 600, r)).toBe(10);
  });

  it('a correction with `at` is attributed to the sub-window of at', () => {
    const r = rule({ limit: 10, window: 1000 }); // step 5 ms
    let state: RuleState = slidingWindow.charge(undefined, 0, 4, r);
    state = slidingWindow.charge(state, 500, 4, r);
    // A refund for the charge at 0 takes from its sub-window (then older ones), not from the newest.
    expect(slidingWindow.adjust(state, 600, -3, r, 2)).toEqual([0, 1, 100, 4]);
    // More than that sub-window holds: the rest from the newer ones, oldest first.
    expect(slidingWindow.adjust(state, 600, -6, r, 2)).toEqual([100, 2]);
    // Usage added for a past instant goes into its sub-window, in order.
    expect(slidingWindow.adjust(state, 600, 2, r, 250)).toEqual([0, 4, 50, 2, 100, 4]);
    expect(slidingWindow.adjust(state, 600, 2, r, 3)).toEqual([0, 6, 100, 4]);
    // For an instant whose sub-window no longer counts, nothing changes what counts.
    const later = slidingWindow.adjust(state, 1200, 3, r, 2);
    expect(slidingWindow.remaining(later, 1200, r)).toBe(6);
    expect(slidingWindow.adjust(state, 1200, -3, r, 2)).toEqual([100, 4]);
  });
});
