import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AlgorithmName } from '../../src/core/types.js';
import { compileRule } from '../../src/engine/rules.js';
import { admissions } from '../../src/planner/admission.js';
import { plan } from '../../src/planner/index.js';
import type { PlanEndpoint, PlanInput, PlanJobType } from '../../src/planner/types.js';
import { type Order, type SimResult, simulate } from './simulate.js';

/*
 * The plan against a simulated run (test/planner/simulate.ts: separate workers asking a real RateLimiter).
 * - not optimistic: the simulated run with the plan's workers does exactly the planned jobs per endpoint and
 *   finishes exactly when planned (from the plan's own start: `start`, or a boundary of every window);
 * - a bound without `start`: a run starting anywhere else does at least as many jobs by the planned finish;
 * - not needlessly pessimistic: no endpoint choice does more with the same workers (when the endpoints
 *   share one window rule: otherwise primary-first is the plan's policy, not an optimum), no number of workers
 *   does more when the cap left workers unused, one worker less does fewer, and no split of the cap among the types
 *   finishes more jobs in total.
 */

/** Deterministic by default; `RK_FC_SEED` / `RK_FC_RUNS` explore further. */
const SEED = Number(process.env.RK_FC_SEED ?? 4);
const RUNS = Number(process.env.RK_FC_RUNS ?? 300);

const ALGORITHMS: AlgorithmName[] = ['sliding-window', 'token-bucket', 'fixed-window'];

const endpointArb = (name: string): fc.Arbitrary<PlanEndpoint> =>
  fc
    .record({
      algorithm: fc.constantFrom(...ALGORITHMS),
      limit: fc.integer({ min: 1, max: 6 }),
      window: fc.integer({ min: 100, max: 5_000 }),
      burst: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
    })
    .map(({ algorithm, limit, window, burst }) => ({
      name,
      limit,
      window,
      algorithm,
      ...(algorithm === 'token-bucket' && burst !== undefined ? { burst } : {}),
    }));

const typeArb: fc.Arbitrary<PlanJobType> = fc
  .record({
    backlog: fc.integer({ min: 0, max: 40 }),
    duration: fc.integer({ min: 50, max: 3_000 }),
    endpoints: fc
      .integer({ min: 1, max: 3 })
      .chain((n) =>
        fc.tuple(...Array.from({ length: n }, (_, i) => endpointArb(i === 0 ? 'primary' : `overflow-${i}`))),
      ),
    // Half the types have overflow endpoints with the primary's own rule, as in the seed.
    uniform: fc.boolean(),
  })
  .map(({ uniform, ...t }) => ({
    ...t,
    endpoints: uniform ? t.endpoints.map((e) => ({ ...t.endpoints[0]!, name: e.name })) : [...t.endpoints],
  }));

/** Whether every endpoint of a type has the same rule (the endpoints then act as one pool of calls). */
function uniformWindows(type: PlanJobType): boolean {
  const [first, ...rest] = type.endpoints.map(({ name: _, ...rule }) => JSON.stringify(rule));
  return rest.every((r) => r === first) && type.endpoints[0]!.algorithm !== 'token-bucket';
}

const inputArb: fc.Arbitrary<PlanInput> = fc
  .record({
    deadline: fc.integer({ min: 500, max: 12_000 }),
    maxWorkers: fc.integer({ min: 1, max: 6 }),
    types: fc.array(typeArb, { minLength: 1, maxLength: 3 }),
    leftovers: fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 3, maxLength: 3 }),
    start: fc.option(fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_000 + 10_000_000 }), {
      nil: undefined,
    }),
  })
  .map(({ deadline, maxWorkers, types, leftovers, start }) => ({
    deadline,
    maxWorkers,
    types: Object.fromEntries(types.map((t, i) => [`T${i}`, t])),
    leftovers: Object.fromEntries(types.map((_, i) => [`T${i}`, leftovers[i]!])),
    ...(start === undefined ? {} : { start }),
  }));

/** A deterministic shuffled endpoint order per call, from a seed (mulberry32). */
function randomOrder(seed: number): Order {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return (n) => {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  };
}

function jobsOf(input: PlanInput, name: string): number {
  return input.types[name]!.backlog + (input.leftovers?.[name] ?? 0);
}

function deadlineOf(input: PlanInput): number {
  return input.deadline as number;
}

describe('plan vs a simulated run (fast-check)', () => {
  it('is exact for its own start, a bound for any other, and no schedule beats it', () => {
    fc.assert(
      fc.property(inputArb, fc.integer(), fc.integer({ min: 0, max: 10_000_000 }), (input, seed, shift) => {
        const p = plan(input);
        const origin = (input.start as number | undefined) ?? 0;
        const deadlineMs = deadlineOf(input);
        expect(p.workers).toBeLessThanOrEqual(input.maxWorkers);
        const sim = (
          name: string,
          workers: number,
          options: { order?: Order; at?: number } = {},
        ): SimResult =>
          simulate({
            type: input.types[name]!,
            jobs: jobsOf(input, name),
            workers,
            deadlineMs,
            origin: options.at ?? origin,
            ...(options.order ? { order: options.order } : {}),
          });

        const uncapped = plan({ ...input, maxWorkers: 1_000 });
        let total = 0;
        for (const [name, t] of Object.entries(p.types)) {
          const done = t.jobs - t.leftover;
          total += done;
          expect(t.jobs).toBe(jobsOf(input, name));
          // Not optimistic: the planned workers do exactly this, exactly by then.
          const run = sim(name, t.workers);
          expect({ finished: run.finished, finishMs: run.finishMs, endpoints: run.perEndpoint }).toEqual({
            finished: done,
            finishMs: t.finishMs,
            endpoints: t.endpoints,
          });
          expect(t.finishMs).toBeLessThanOrEqual(deadlineMs);
          // A bound without a start: with endpoints of one rule, starting anywhere else, at least as many
          // jobs finish by the deadline. (With different rules and few workers, primary-first at another
          // phase can do a job less: the README says so, and `start` makes the plan exact.)
          if (input.start === undefined && uniformWindows(input.types[name]!)) {
            expect(sim(name, t.workers, { at: 1_700_000_000_000 + shift }).finished).toBeGreaterThanOrEqual(
              done,
            );
          }
          // Not pessimistic: with endpoints of one window rule, another endpoint choice does no more with
          // the same workers (with different rules, primary first is the plan's policy, not an optimum)…
          if (uniformWindows(input.types[name]!)) {
            expect(sim(name, t.workers, { order: randomOrder(seed) }).finished).toBeLessThanOrEqual(done);
          }
          // …no number of workers does more than the plan without a cap…
          const enough = uncapped.types[name]!;
          const most = sim(name, t.jobs, { order: randomOrder(seed + 1) }).finished;
          expect(most).toBeLessThanOrEqual(enough.jobs - enough.leftover);
          // …and one worker less does fewer (the plan starts no worker it does not need).
          if (t.workers > 0) expect(sim(name, t.workers - 1).finished).toBeLessThan(done);
        }
        expect(p.leftover).toBe(Object.values(p.types).reduce((a, t) => a + t.leftover, 0));
        expect(p.feasible).toBe(p.leftover === 0);

        // No split of the cap among the types finishes more in total.
        const names = Object.keys(p.types);
        const finished = names.map((name) =>
          Array.from({ length: input.maxWorkers + 1 }, (_, w) => sim(name, w).finished),
        );
        // (The planner's search for the fewest workers relies on this: more workers never finish fewer.)
        for (const row of finished)
          for (let w = 1; w < row.length; w++) expect(row[w]).toBeGreaterThanOrEqual(row[w - 1]!);
        let best = 0;
        const search = (i: number, left: number, sum: number): void => {
          if (i === names.length) {
            best = Math.max(best, sum);
            return;
          }
          for (let w = 0; w <= left; w++) search(i + 1, left - w, sum + finished[i]![w]!);
        };
        search(0, input.maxWorkers, 0);
        expect(total).toBe(best);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  });

  it('admissions(): the closed form equals the calls a run with unlimited workers starts in time', () => {
    fc.assert(
      fc.property(
        endpointArb('e'),
        fc.integer({ min: 0, max: 4_000 }),
        fc.option(fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_000 + 10_000_000 }), {
          nil: undefined,
        }),
        (endpoint, latestStart, start) => {
          const rule = compileRule(endpoint);
          const expected = admissions(rule, latestStart, start ?? 0);
          // Jobs of 1 ms, deadline latestStart + 1: a call can start in [0, latestStart]. (Plus 0.01 ms: at
          // times near 1.7e12 ms a token bucket with a fractional interval admits up to ~0.0002 ms late, while
          // true admission times differ from an integer L by at least 1/limit ms.)
          const run = simulate({
            type: { backlog: 0, duration: 1, endpoints: [endpoint] },
            jobs: expected + 3,
            workers: expected + 3,
            deadlineMs: latestStart + 1.01,
            origin: start ?? 0,
          });
          expect(run.finished).toBe(expected);
        },
      ),
      { numRuns: RUNS, seed: SEED + 1 },
    );
  });
});
