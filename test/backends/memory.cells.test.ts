import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { algorithms } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import { type Cell, cellFor } from '../../src/backends/memory/cells.js';
import type { AlgorithmName, CompiledRule } from '../../src/core/types.js';
import { arrivalsArb, rule, windowArb } from '../algorithms/helpers.js';

/**
 * How the state is read around each charge: the orders a store may use; `admit`: the cell decides and
 * charges in one call (`Cell.admit`), which must answer and charge what `wait`, `remaining` and `charge` do.
 */
type Read = 'none' | 'before' | 'after' | 'both' | 'admit';

/**
 * Charges the same arrivals purely (`charge`, a new array each time) and on a memory-store cell (in place),
 * reading both between charges as a store would; the two must agree exactly: the cell's `state()` and the
 * pure state element by element, and every answer (`remaining`, `wait`, `idleAt`) bit for bit.
 */
function compare(r: CompiledRule, arrivals: ReadonlyArray<{ t: number; cost: number }>, reads: Read[]): void {
  const algorithm = algorithms[r.algorithm];
  let pure: RuleState | undefined;
  let cell: Cell | undefined;
  const pureAnswers = (t: number, cost: number) => [
    algorithm.remaining(pure, t, r),
    algorithm.wait(pure, t, cost, r),
    pure ? algorithm.idleAt(pure, r) : Number.NaN,
  ];
  const cellAnswers = (t: number, cost: number) =>
    cell
      ? [cell.remaining(t), cell.wait(t, cost), cell.idleAt()]
      : [algorithm.remaining(undefined, t, r), algorithm.wait(undefined, t, cost, r), Number.NaN];
  arrivals.forEach(({ t, cost }, i) => {
    const read = reads[i % reads.length]!;
    if (read === 'before' || read === 'both') {
      expect(cellAnswers(t, cost)).toEqual(pureAnswers(t, cost));
      expect(cellAnswers(t, cost)).toEqual(pureAnswers(t, cost));
    }
    if (read === 'admit') {
      const admitted = algorithm.wait(pure, t, cost, r) <= 0;
      const left = admitted ? Math.max(0, algorithm.remaining(pure, t, r) - cost) : -1;
      if (admitted) pure = algorithm.charge(pure, t, cost, r);
      // A store makes a cell only to charge it (a refusal of a state never used leaves none).
      if (admitted || cell !== undefined) {
        cell ??= cellFor('s', r, {}, []);
        expect(cell.admit(t, cost)).toBe(left);
      }
      if (pure === undefined) return;
    } else {
      pure = algorithm.charge(pure, t, cost, r);
      cell ??= cellFor('s', r, {}, []);
      cell.charge(t, cost);
    }
    cell = cell!;
    expect(cell.state()).toEqual(pure);
    if (read === 'after' || read === 'both') {
      expect(cellAnswers(t, cost)).toEqual(pureAnswers(t, cost));
      expect(cellAnswers(t + 1, cost)).toEqual(pureAnswers(t + 1, cost));
    }
  });
}

const readsArb = fc.array(fc.constantFrom<Read>('none', 'before', 'after', 'both', 'admit'), {
  minLength: 1,
  maxLength: 6,
});

/** Arrivals whose times sometimes step back (clock skew between processes sharing a backend). */
const skewedArb = fc
  .tuple(arrivalsArb(8, 200), fc.array(fc.integer({ min: -3000, max: 0 }), { minLength: 1, maxLength: 7 }))
  .map(([arrivals, skews]) => arrivals.map((a, i) => ({ ...a, t: a.t + skews[i % skews.length]! })));

describe.each<AlgorithmName>(['sliding-window', 'token-bucket', 'fixed-window', 'anchored-window'])(
  'memory store cell (%s)',
  (algorithm) => {
    it('holds exactly the state that the pure charge returns and answers alike, on random arrivals and reads', () => {
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
      compare(r, arrivals, ['admit', 'admit', 'both', 'admit']);
    });
  },
);

describe('memory store cell (sliding-window): corrections in place', () => {
  /** A charge or a correction (`delta`, at `back` ms before now, or now when undefined; < 0: a clock ahead). */
  const stepArb = fc.record({
    gap: fc.integer({ min: 0, max: 400 }),
    kind: fc.constantFrom('charge', 'correct'),
    amount: fc.integer({ min: -40, max: 40 }),
    back: fc.option(fc.integer({ min: -300, max: 2500 }), { nil: undefined }),
  });

  it('leaves exactly the state the pure adjust returns, and answers alike', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        windowArb,
        fc.array(stepArb, { minLength: 1, maxLength: 120 }),
        (limit, window, steps) => {
          const r = rule({ limit, window, algorithm: 'sliding-window' });
          const algorithm = algorithms['sliding-window'];
          let pure: RuleState = [];
          const cell = cellFor('s', r, {}, []);
          let t = 1_700_000_000_000;
          for (const step of steps) {
            t += step.gap;
            if (step.kind === 'charge') {
              const cost = Math.abs(step.amount);
              pure = algorithm.charge(pure, t, cost, r);
              cell.charge(t, cost);
            } else {
              const at = step.back === undefined ? undefined : t - step.back;
              pure = algorithm.adjust(pure, t, step.amount, r, at);
              expect(cell.correct(t, step.amount, at)).toBe(true);
            }
            expect(cell.state()).toEqual(pure);
            expect([cell.remaining(t), cell.wait(t, 1), cell.idleAt()]).toEqual([
              algorithm.remaining(pure, t, r),
              algorithm.wait(pure, t, 1, r),
              algorithm.idleAt(pure, r),
            ]);
          }
        },
      ),
      { numRuns: 400, seed: 11 },
    );
  });

  it('other cells do not correct in place (the store rebuilds them from the pure adjust)', () => {
    for (const algorithm of ['token-bucket', 'fixed-window', 'anchored-window'] as const) {
      const cell = cellFor('s', rule({ limit: 5, window: 1000, algorithm }), {}, []);
      expect(cell.correct(1000, -1, 500)).toBe(false);
    }
  });
});
