import fc from 'fast-check';
import { algorithms } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import type { CompiledRule, Rule } from '../../src/core/types.js';
import { compileRule } from '../../src/engine/rules.js';

export interface Arrival {
  t: number;
  cost: number;
}

export interface Admitted extends Arrival {
  /** The wait the algorithm answered for this arrival (0 when admitted). */
  wait: number;
}

/** Offers every arrival in order to the pure algorithm; returns those admitted (charged). */
export function simulate(rule: CompiledRule, arrivals: readonly Arrival[]): Admitted[] {
  const algorithm = algorithms[rule.algorithm];
  let state: RuleState | undefined;
  const admitted: Admitted[] = [];
  for (const { t, cost } of arrivals) {
    const wait = algorithm.wait(state, t, cost, rule);
    if (wait === 0) {
      state = algorithm.charge(state, t, cost, rule);
      admitted.push({ t, cost, wait });
    }
  }
  return admitted;
}

export function rule(r: Rule): CompiledRule {
  return compileRule(r);
}

/** Gaps between arrivals: bursts at one instant, ms steps, fractions of ms, and long pauses. */
export const gapArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 50 }) },
  { weight: 4, arbitrary: fc.double({ min: 0, max: 50, noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 5_000 }) },
);

/** Start times: near zero, and realistic epoch times (where doubles have only ~0.2 µs of precision). */
export const startArb = fc.oneof(
  fc.integer({ min: 0, max: 10_000 }),
  fc.double({ min: 0, max: 10_000, noNaN: true }),
  fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
  fc.double({ min: 1_600_000_000_000, max: 1_800_000_000_000, noNaN: true }),
);

/** Arrivals at non-decreasing times with costs in [1, maxCost] (integers, sometimes fractional). */
export function arrivalsArb(maxCost: number, maxLength = 300): fc.Arbitrary<Arrival[]> {
  const costArb = fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 1, max: Math.max(1, maxCost) }) },
    { weight: 1, arbitrary: fc.double({ min: 0.01, max: Math.max(0.01, maxCost), noNaN: true }) },
  );
  return fc
    .tuple(startArb, fc.array(fc.tuple(gapArb, costArb), { minLength: 1, maxLength }))
    .map(([start, steps]) => {
      let t = start;
      return steps.map(([gap, cost]) => {
        t += gap;
        return { t, cost };
      });
    });
}

/** Windows around the sub-window boundaries of the sliding window (step = max(1, floor(window/200))). */
export const windowArb = fc.constantFrom(1, 3, 7, 100, 199, 200, 201, 399, 1000, 1001, 60_000);

/** A deterministic pseudo-random generator (mulberry32) for long simulations outside fast-check. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
