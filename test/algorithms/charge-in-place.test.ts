import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { algorithms } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import type { AlgorithmName, CompiledRule } from '../../src/core/types.js';
import { arrivalsArb, rule, windowArb } from './helpers.js';

/** How the state is read around each charge: the orders a store may use, which also exercise memos. */
type Read = 'none' | 'before' | 'after' | 'both';

/**
 * Charges the same arrivals purely (`charge`, a new array each time) and in place (`chargeInPlace` on one
 * owned array), reading both states between charges as a store would; the two must agree exactly: the
 * arrays element by element, and every answer (`remaining`, `wait`, `idleAt`) bit for bit.
 */
function compare(r: CompiledRule, arrivals: ReadonlyArray<{ t: number; cost: number }>, reads: Read[]): void {
  const algorithm = algorithms[r.algorithm];
  let pure: RuleState | undefined;
  let owned: number[] | undefined;
  const answers = (state: RuleState | undefined, t: number, cost: number) => [
    algorithm.remaining(state, t, r),
    algorithm.wait(state, t, cost, r),
    state ? algorithm.idleAt(state, r) : Number.NaN,
  ];
  arrivals.forEach(({ t, cost }, i) => {
    const read = reads[i % reads.length]!;
    if (read === 'before' || read === 'both') {
      // In-place first, so that a memo of the owned state is live when it is charged.
      expect(answers(owned, t, cost)).toEqual(answers(pure, t, cost));
      expect(answers(owned, t, cost)).toEqual(answers(pure, t, cost));
      algorithm.remaining(owned, t, r);
    }
    pure = algorithm.charge(pure, t, cost, r);
    if (owned) algorithm.chargeInPlace(owned, t, cost, r);
    else owned = [...algorithm.charge(undefined, t, cost, r)];
    expect(owned).toEqual(pure);
    if (read === 'after' || read === 'both') {
      expect(answers(owned, t, cost)).toEqual(answers(pure, t, cost));
      expect(answers(owned, t + 1, cost)).toEqual(answers(pure, t + 1, cost));
    }
  });
}

const readsArb = fc.array(fc.constantFrom<Read>('none', 'before', 'after', 'both'), {
  minLength: 1,
  maxLength: 6,
});

/** Arrivals whose times sometimes step back (clock skew between processes sharing a backend). */
const skewedArb = fc
  .tuple(arrivalsArb(8, 200), fc.array(fc.integer({ min: -3000, max: 0 }), { minLength: 1, maxLength: 7 }))
  .map(([arrivals, skews]) => arrivals.map((a, i) => ({ ...a, t: a.t + skews[i % skews.length]! })));

describe.each<AlgorithmName>(['sliding-window', 'token-bucket', 'fixed-window'])(
  'chargeInPlace (%s)',
  (algorithm) => {
    it('leaves exactly the state that charge returns, on random arrivals and reads', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 50 }),
          windowArb,
          fc.oneof(arrivalsArb(8), skewedArb),
          readsArb,
          (limit, window, arrivals, reads) => {
            compare(rule({ limit, window, algorithm }), arrivals, reads);
          },
        ),
        { numRuns: 300, seed: 7 },
      );
    });

    it('agrees over long busy runs (a full sliding log, many charges per ms)', () => {
      const r = rule({ limit: 1_000_000_000, window: 1000, algorithm });
      const arrivals = Array.from({ length: 20_000 }, (_, i) => ({
        t: 1_700_000_000_000 + Math.floor(i / 7),
        cost: 1 + (i % 3),
      }));
      compare(r, arrivals, ['before', 'none', 'both', 'after', 'before']);
    });
  },
);
