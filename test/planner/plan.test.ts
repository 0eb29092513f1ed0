import { describe, expect, it } from 'vitest';
import * as root from '../../src/index.js';
import { plan } from '../../src/planner/index.js';
import type { PlanInput, PlanJobType } from '../../src/planner/types.js';

/*
 * Shared arithmetic for the hand computations below (ratekeeper's sliding window, see admission.ts):
 * a window of 1 min has sub-windows of step = ceil(60000 / 200) = 300 ms, and a call made at t counts until
 * (floor(t / 300 ms) + 1) · 300 ms + 60 s, i.e. until t + 60 s + at most 0.3 s. With the start on a boundary
 * (no `start` given, origin 0), a call at 0 frees its slot at 60.3 s exactly.
 * A batch of calls made at 60.3 s (sub-window 201) frees at 202 · 0.3 s + 60 s = 120.6 s.
 * Deadline 3 min = 180 s; a job of duration d must start by 180 s − d.
 */

const SEED_DURATIONS = {
  REBALANCE_NEEDED: '2000ms',
  OPEN_POSITION_DETECTED: '1500ms',
  OPEN_ORDER_DETECTED: '1000ms',
  NEW_BALANCE_UPDATE: '800ms',
  BALANCE_CHECK_REQUIRED: '1200ms',
} as const;
type SeedType = keyof typeof SEED_DURATIONS;

/** The seed's table: every type has a primary and 3 overflow endpoints at 30/min each; 3 minutes, 20 workers. */
function seed(backlogs: Record<SeedType, number>, maxWorkers = 20): PlanInput {
  const types: Record<string, PlanJobType> = {};
  for (const [name, duration] of Object.entries(SEED_DURATIONS)) {
    const api = name.toLowerCase();
    types[name] = {
      backlog: backlogs[name as SeedType],
      duration,
      endpoints: [api, `${api}-overflow-1`, `${api}-overflow-2`, `${api}-overflow-3`].map((n) => ({
        name: n,
        limit: 30,
        window: '1m',
      })),
    };
  }
  return { deadline: '3m', maxWorkers, types };
}

/** Per-endpoint counts of a type, primary first. */
function counts(p: ReturnType<typeof plan>, type: string): number[] {
  return Object.values(p.types[type]!.endpoints);
}

const FEASIBLE: Record<SeedType, number> = {
  REBALANCE_NEEDED: 100,
  OPEN_POSITION_DETECTED: 120,
  OPEN_ORDER_DETECTED: 300,
  NEW_BALANCE_UPDATE: 150,
  BALANCE_CHECK_REQUIRED: 150,
};

describe('plan: the seed table (5 types, 4 endpoints of 30/min each, 3 minutes, 20 workers)', () => {
  it('a backlog that fits: the fewest workers per type, exact finishes and endpoint shares', () => {
    const p = plan(seed(FEASIBLE));

    // REBALANCE_NEEDED, 100 jobs of 2 s, must start by 178 s. One worker starts at most
    // floor(178 / 2) + 1 = 90 jobs < 100, so 2 workers: rounds of 2 jobs every 2 s, 50 rounds, the last at
    // 98 s: finish 100 s. Quota never stalls a round (2 calls per 2 s = 60/min < 120/min).
    // Endpoints, primary first: rounds 0–14 (0–28 s) primary (30), rounds 15–29 (30–58 s) overflow-1 (30);
    // round 30 at 60 s: the primary frees its first calls only at 60.3 s, overflow-1 is full: overflow-2 (2).
    // From round 31 (62 s) the primary frees exactly one earlier round per round (its call at 2(k−1) s
    // frees by 2(k−1) + 60.3 s ≤ 60 + 2k s, the next one not yet): rounds 31–45 primary (30 more);
    // round 46 (92 s): the primary's 15 freed rounds are reused; overflow-1's call of 30 s (sub-window 100)
    // freed at 90.3 s: rounds 46–49 overflow-1 (8). Primary 60, overflow-1 38, overflow-2 2, overflow-3 0.
    expect(p.types.REBALANCE_NEEDED).toEqual({
      jobs: 100,
      workers: 2,
      finishMs: 100_000,
      leftover: 0,
      endpoints: {
        rebalance_needed: 60,
        'rebalance_needed-overflow-1': 38,
        'rebalance_needed-overflow-2': 2,
        'rebalance_needed-overflow-3': 0,
      },
    });

    // OPEN_POSITION_DETECTED, 120 jobs of 1.5 s, start by 178.5 s: one worker starts floor(178.5 / 1.5) + 1
    // = 120 jobs at 1.5k s, k = 0…119 (40/min, never short of quota): 1 worker, the last at 178.5 s ends at 180 s.
    // Endpoints: k 0–29 primary; k 30–40 overflow-1 (40 is at 60 s < 60.3 s); the primary's call i (1.5i s)
    // frees at 60.3 + 1.5i s, so k = 41 + i (61.5 + 1.5i s) reuses it: k 41–70 primary; k 71–81 overflow-1
    // (11, its spare quota); the primary's second round of calls (61.5 + 1.5i s, sub-window 205 + 5i) frees at
    // 121.8 + 1.5i s: k 82–111 (123 s…) primary; k 112–119 overflow-1 (8). Primary 90, overflow-1 30.
    expect(p.types.OPEN_POSITION_DETECTED).toMatchObject({ jobs: 120, workers: 1, finishMs: 180_000 });
    expect(counts(p, 'OPEN_POSITION_DETECTED')).toEqual([90, 30, 0, 0]);

    // OPEN_ORDER_DETECTED, 300 jobs of 1 s, start by 179 s: one worker does at most 180, so 2 workers:
    // 2 calls per second = 120/min, exactly the 4 endpoints' rate. Cycle 1: rounds at 0…59 s use all
    // 120 calls (primary rounds 0–14, overflow-1 15–29, overflow-2 30–44, overflow-3 45–59). Round 60 (60 s)
    // waits for 60.3 s. Cycle 2: rounds at 60.3 + j s, j = 0…59 (round j's calls, sub-window floor(10j/3),
    // free by j + 60.3 s), same endpoints. Cycle 3 starts when the 60.3 s calls free: 120.6 s; 300 − 240 =
    // 60 jobs = 30 rounds at 120.6 + j s, j = 0…29 (primary 15, overflow-1 15): last start 149.6 s, finish 150.6 s.
    expect(p.types.OPEN_ORDER_DETECTED).toMatchObject({ jobs: 300, workers: 2, finishMs: 150_600 });
    expect(counts(p, 'OPEN_ORDER_DETECTED')).toEqual([90, 90, 60, 60]);

    // NEW_BALANCE_UPDATE, 150 jobs of 0.8 s: one worker (at most floor(179.2 / 0.8) + 1 = 225), calls at
    // 0.8k s, 75/min: last start 119.2 s, finish 120 s. Endpoints: k 0–29 primary, 30–59 overflow-1,
    // 60–75 overflow-2 (k 75 is at 60 s < 60.3 s); the primary's call i frees at 60.3 + 0.3·floor(8i/3) s,
    // ≤ 60.8 + 0.8i s and the next not yet: k 76–105 primary; then overflow-1's calls (24 + 0.8j s, freeing
    // at 84.3 + 0.3·floor(8j/3) s): k 106–135 overflow-1; k 136–149 overflow-2 (14 of its spare quota).
    expect(p.types.NEW_BALANCE_UPDATE).toMatchObject({ jobs: 150, workers: 1, finishMs: 120_000 });
    expect(counts(p, 'NEW_BALANCE_UPDATE')).toEqual([60, 60, 30, 0]);

    // BALANCE_CHECK_REQUIRED, 150 jobs of 1.2 s, start by 178.8 s: one worker does floor(178.8 / 1.2) + 1 =
    // 150: calls at 1.2k s, the last at 178.8 s, finishing at exactly 180 s. Endpoints: k 0–29 primary,
    // 30–50 overflow-1 (k 50 = 60 s < 60.3 s); primary reuse k 51–80 (its call i frees at 60.3 + 1.2i s);
    // k 81–101 overflow-1 (9 spare + its own frees at 96.3 + 1.2j s); the primary's second calls free at
    // 121.5 + 1.2i s: k 102–131 primary; k 132–149 overflow-1 (18). Primary 90, overflow-1 21 + 21 + 18 = 60.
    expect(p.types.BALANCE_CHECK_REQUIRED).toMatchObject({ jobs: 150, workers: 1, finishMs: 180_000 });
    expect(counts(p, 'BALANCE_CHECK_REQUIRED')).toEqual([90, 60, 0, 0]);

    // Totals: 2 + 1 + 2 + 1 + 1 = 7 workers; the last jobs end at 180 s (two types use the whole deadline).
    expect(p).toMatchObject({
      feasible: true,
      workers: 7,
      finishMs: 180_000,
      leftover: 0,
      bottleneck: { kind: 'none' },
      exact: false,
      deadlineMs: 180_000,
    });
  });

  it('7 workers were the fewest: with a cap of 6 the cap binds, and the split loses the fewest jobs', () => {
    const p = plan(seed(FEASIBLE, 6));
    // One worker less somewhere: REBALANCE_NEEDED with 1 worker does 90 of 100 (−10); OPEN_ORDER_DETECTED
    // with 1 does 180 of 300 (−120); any 1-worker type with 0 does nothing (−120 or −150). Best: −10.
    // With 1 worker, REBALANCE_NEEDED starts at 0, 2, …, 178 s: primary 0–58 s (30); at 60 s overflow-1
    // (the primary frees at 60.3 s); from 62 s the primary frees one call per call (its call at 2i s frees
    // at 60.3 + 0.3·floor(20i/3) s ≤ 62 + 2i s): 62–120 s (30); at 122 s its 62 s call (sub-window 206)
    // frees only at 122.1 s: overflow-1; 124–178 s primary (28). Primary 88, overflow-1 2.
    expect(p).toMatchObject({
      feasible: false,
      workers: 6,
      leftover: 10,
      bottleneck: { kind: 'workers', type: 'REBALANCE_NEEDED' },
    });
    expect(p.types.REBALANCE_NEEDED).toMatchObject({
      jobs: 100,
      workers: 1,
      finishMs: 180_000,
      leftover: 10,
    });
    expect(counts(p, 'REBALANCE_NEEDED')).toEqual([88, 2, 0, 0]);
  });

  it('a backlog over the endpoints rate: the rate binds, with its type, endpoint and leftover', () => {
    const p = plan(seed({ ...FEASIBLE, REBALANCE_NEEDED: 400 }));
    // REBALANCE_NEEDED: each endpoint admits calls at 0, 60.3 and 120.6 s (≤ 178 s; the next, 180.9 s, is
    // too late): 30 · 3 = 90 each, 360 in all; 400 − 360 = 40 left over.
    // Fewest workers for 360: w workers do rounds of w every 2 s. With 5: cycle 1 uses the 120 calls in 24
    // rounds (0–46 s), then waits for 60.3 s; cycle 2: rounds at 60.3 + 2j s (j = 0…23; round j's calls free by
    // 2j + 60.3 s); cycle 3 from 120.6 s: last round 120.6 + 46 = 166.6 s ≤ 178 s, finish 168.6 s.
    // With 4: 30 rounds per cycle; cycle 3's round j is at 120.6 + 2j s ≤ 178 s only for j ≤ 28: 29 rounds,
    // 116 calls: 120 + 120 + 116 = 356 < 360. So 5.
    expect(p.types.REBALANCE_NEEDED).toEqual({
      jobs: 400,
      workers: 5,
      finishMs: 168_600,
      leftover: 40,
      endpoints: {
        rebalance_needed: 90,
        'rebalance_needed-overflow-1': 90,
        'rebalance_needed-overflow-2': 90,
        'rebalance_needed-overflow-3': 90,
      },
    });
    // The other types as before: 1 + 2 + 1 + 1 = 5 more workers.
    expect(p).toMatchObject({
      feasible: false,
      workers: 10,
      finishMs: 180_000,
      leftover: 40,
      // All 4 endpoints admit 90: the primary (first on ties) is named.
      bottleneck: { kind: 'rate', type: 'REBALANCE_NEEDED', endpoint: 'rebalance_needed' },
    });
  });

  it('every type at its full rate capacity (360) fits in 17 workers; a cap of 16 leaves 2 jobs', () => {
    const full = {
      REBALANCE_NEEDED: 360,
      OPEN_POSITION_DETECTED: 360,
      OPEN_ORDER_DETECTED: 360,
      NEW_BALANCE_UPDATE: 360,
      BALANCE_CHECK_REQUIRED: 360,
    };
    // Each type: 120 calls per cycle, cycles starting at 0, 60.3 and 120.6 s when workers consume a cycle's
    // calls within 60 s (each later round reuses the calls of the same round one cycle before).
    // REBALANCE (2 s): 5 workers (above), finish 168.6 s.
    // OPEN_POSITION (1.5 s, start by 178.5 s): 3 workers → 40 rounds per cycle, cycle 3 rounds at
    // 120.6 + 1.5j ≤ 178.5 only for j ≤ 38: 117 → 357. 4 workers → 30 rounds: last 120.6 + 43.5 = 164.1 s, finish 165.6 s.
    // OPEN_ORDER (1 s, by 179 s): 2 workers → 60 rounds per cycle (0–59 s, 60.3–119.3 s), cycle 3 at
    // 120.6 + j ≤ 179 for j ≤ 58: 118 → 358. 3 workers → 40 rounds: last 159.6 s, finish 160.6 s.
    // NEW_BALANCE (0.8 s): 1 worker does at most 225; 2 workers → 60 rounds per cycle in 47.2 s; cycle 3
    // last 120.6 + 47.2 = 167.8 s, finish 168.6 s.
    // BALANCE_CHECK (1.2 s): 2 workers do at most 2 · 150 = 300; 3 → 40 rounds in 46.8 s, cycle 3 last
    // 167.4 s, finish 168.6 s. Sum 5 + 4 + 3 + 2 + 3 = 17.
    const p = plan(seed(full));
    expect(p).toMatchObject({ feasible: true, workers: 17, finishMs: 168_600, leftover: 0 });
    expect(Object.values(p.types).map((t) => [t.workers, t.finishMs])).toEqual([
      [5, 168_600],
      [4, 165_600],
      [3, 160_600],
      [2, 168_600],
      [3, 168_600],
    ]);
    for (const name of Object.keys(full)) expect(counts(p, name)).toEqual([90, 90, 90, 90]);

    // 16 workers: one worker less costs REBALANCE 4 (356), OPEN_POSITION 3 (357), OPEN_ORDER 2 (358),
    // NEW_BALANCE 135 (225), BALANCE_CHECK 60 (300): OPEN_ORDER gets 2 workers; 2 left over; its last
    // round, 120.6 + 58 = 178.6 s, finishes at 179.6 s.
    const capped = plan(seed(full, 16));
    expect(capped).toMatchObject({
      feasible: false,
      workers: 16,
      leftover: 2,
      finishMs: 179_600,
      bottleneck: { kind: 'workers', type: 'OPEN_ORDER_DETECTED' },
    });
    expect(capped.types.OPEN_ORDER_DETECTED).toMatchObject({ workers: 2, leftover: 2, finishMs: 179_600 });
  });

  it('leftovers of the previous run join their type backlog (the plan is the same as one backlog)', () => {
    const run1 = plan(seed({ ...FEASIBLE, REBALANCE_NEEDED: 400 }));
    expect(run1.types.REBALANCE_NEEDED!.leftover).toBe(40);
    // Next run: 60 new jobs plus the 40 carried over = 100 jobs, planned exactly like a backlog of 100.
    const run2 = plan({
      ...seed({ ...FEASIBLE, REBALANCE_NEEDED: 60 }),
      leftovers: { REBALANCE_NEEDED: run1.types.REBALANCE_NEEDED!.leftover },
    });
    expect(run2.types.REBALANCE_NEEDED!.jobs).toBe(100);
    expect(run2).toEqual(plan(seed(FEASIBLE)));
  });
});

describe('plan: the SPEC §5 example', () => {
  it('is exported from the package root', () => {
    expect(root.plan).toBe(plan);
  });

  it('plans 312 REBALANCE_NEEDED jobs (300 + 12 carried over) on two endpoints', () => {
    const p = plan({
      deadline: '3m',
      maxWorkers: 20,
      types: {
        REBALANCE_NEEDED: {
          backlog: 300,
          duration: '2s',
          endpoints: [
            { name: 'rebalance', limit: 30, window: '1m' },
            { name: 'rebalance-overflow-1', limit: 30, window: '1m' },
          ],
        },
        NEW_BALANCE_UPDATE: {
          backlog: 80,
          duration: '800ms',
          endpoints: [{ name: 'balance', limit: 30, window: '1m' }],
        },
      },
      leftovers: { REBALANCE_NEEDED: 12 },
    });
    // REBALANCE_NEEDED: 312 jobs; each endpoint admits 30 at 0, 60.3 and 120.6 s (≤ 178 s): 90 + 90 = 180;
    // 132 left over. Workers: 3 do rounds of 3 every 2 s, 20 rounds per cycle (60 calls): cycle 3 from
    // 120.6 s, last round 120.6 + 38 = 158.6 s, finish 160.6 s. 2 workers: 30 rounds per cycle, cycle 3 at
    // 120.6 + 2j ≤ 178 only for j ≤ 28: 60 + 60 + 58 = 178 < 180. So 3.
    expect(p.types.REBALANCE_NEEDED).toEqual({
      jobs: 312,
      workers: 3,
      finishMs: 160_600,
      leftover: 132,
      endpoints: { rebalance: 90, 'rebalance-overflow-1': 90 },
    });
    // NEW_BALANCE_UPDATE: 80 jobs of 0.8 s on one endpoint (90 by 179.2 s): 1 worker, calls at 0.8k s:
    // 30 (0–23.2 s), wait for 60.3 s, 30 (60.3–83.5 s), wait for 120.6 s, 20 (120.6–135.8 s): finish 136.6 s.
    expect(p.types.NEW_BALANCE_UPDATE).toEqual({
      jobs: 80,
      workers: 1,
      finishMs: 136_600,
      leftover: 0,
      endpoints: { balance: 80 },
    });
    expect(p).toMatchObject({
      feasible: false,
      workers: 4,
      finishMs: 160_600,
      leftover: 132,
      bottleneck: { kind: 'rate', type: 'REBALANCE_NEEDED', endpoint: 'rebalance' },
    });
  });
});

describe('plan: time, edges and algorithms', () => {
  const one = (type: PlanJobType, extra: Partial<PlanInput> = {}) =>
    plan({ deadline: '10s', maxWorkers: 4, types: { T: type }, ...extra });

  it('a job longer than the deadline: the time binds, every job is left over, no worker is started', () => {
    const p = one({ backlog: 5, duration: '11s', endpoints: [{ name: 'e', limit: 100, window: '1s' }] });
    expect(p).toMatchObject({
      feasible: false,
      workers: 0,
      finishMs: 0,
      leftover: 5,
      bottleneck: { kind: 'time', type: 'T' },
    });
    expect(p.types.T).toEqual({ jobs: 5, workers: 0, finishMs: 0, leftover: 5, endpoints: { e: 0 } });
  });

  it('a job exactly as long as the deadline still runs (it starts at 0 and ends at the deadline)', () => {
    // 3 jobs of 10 s, 10 s deadline: 3 workers start at 0 and end at 10 s.
    const p = one({ backlog: 3, duration: '10s', endpoints: [{ name: 'e', limit: 100, window: '1s' }] });
    expect(p).toMatchObject({ feasible: true, workers: 3, finishMs: 10_000, leftover: 0 });
  });

  it('when several constraints leave jobs over, the one that leaves the most binds', () => {
    const p = plan({
      deadline: '10s',
      maxWorkers: 10,
      types: {
        // 1 per 10 s (token bucket, burst 1): calls at 0 and 10 s; start by 9 s: 1 call; 4 left over.
        A: {
          backlog: 5,
          duration: '1s',
          endpoints: [{ name: 'a', limit: 1, window: '10s', algorithm: 'token-bucket' }],
        },
        B: { backlog: 2, duration: '1m', endpoints: [{ name: 'b', limit: 9, window: '1s' }] }, // 2 left over
      },
    });
    expect(p).toMatchObject({ leftover: 6, bottleneck: { kind: 'rate', type: 'A', endpoint: 'a' } });
  });

  it('no jobs at all: nothing to start', () => {
    const p = one({ backlog: 0, duration: '1s', endpoints: [{ name: 'e', limit: 1, window: '1s' }] });
    expect(p).toMatchObject({
      feasible: true,
      workers: 0,
      finishMs: 0,
      leftover: 0,
      bottleneck: { kind: 'none' },
    });
  });

  it('token bucket: the burst at 0, then one call every window / limit', () => {
    // burst 5, 2 per 1 s (a call every 500 ms), jobs of 1 s, start by 9 s: 5 + floor(9000 / 500) = 23 calls
    // (the n-th call after the burst at n · 0.5 s, the 18th at 9 s, ending at 10 s); 30 − 23 = 7 left over.
    // Workers: 2 start at most 2 · (floor(9 / 1) + 1) = 20 < 23. 3: 3 at 0 s (2 tokens left), 3 at 1 s
    // (2 + 2 refilled = 4), 3 at 2 s (1 + 2 = 3), 2 at 3 s: 11 by 3 s, as many as the bucket can give
    // (5 + 6); from then 1 call per 0.5 s, which 3 workers (3 per s) always serve: 23 by 9 s.
    const p = one({
      backlog: 30,
      duration: '1s',
      endpoints: [{ name: 'e', limit: 2, window: '1s', algorithm: 'token-bucket', burst: 5 }],
    });
    expect(p).toMatchObject({
      leftover: 7,
      workers: 3,
      finishMs: 10_000,
      bottleneck: { kind: 'rate', type: 'T', endpoint: 'e' },
    });
    expect(p.types.T!.endpoints.e).toBe(23);
    expect(p.exact).toBe(true); // a token bucket does not depend on where the start falls
  });

  it('fixed window: the least over all starts without a start; exact with one', () => {
    // 10 per 1 min aligned to Unix time, jobs of 1 s, deadline 90 s (start by 89 s), plenty of workers.
    const type: PlanJobType = {
      backlog: 50,
      duration: '1s',
      endpoints: [{ name: 'e', limit: 10, window: '1m', algorithm: 'fixed-window' }],
    };
    // No start: assume a boundary at 0: windows [0, 60) and [60, 120) s: 20. One worker does them
    // (0–9 s and 60–69 s), finishing at 70 s.
    const bound = plan({ deadline: '90s', maxWorkers: 50, types: { T: type } });
    expect(bound).toMatchObject({ leftover: 30, exact: false, workers: 1, finishMs: 70_000 });
    // A start 45 s into a window: windows [0, 15), [15, 75), [75, 135) s from the start all begin by 89 s:
    // 30, one worker: 0–9, 15–24, 75–84 s, finishing at 85 s.
    const start = 1_700_000_040_000 + 45_000; // 1_700_000_040_000 = 28,333,334 whole minutes
    const exact = plan({ deadline: '90s', maxWorkers: 50, types: { T: type }, start });
    expect(exact).toMatchObject({ leftover: 20, exact: true, workers: 1, finishMs: 85_000 });
    expect(plan({ deadline: '90s', maxWorkers: 50, types: { T: type }, start: new Date(start) })).toEqual(
      exact,
    );
  });
});
