/**
 * The LimitStore conformance suite: every backend (memory, SQLite, Redis) must pass it unchanged.
 *
 * Usage, in a backend's test file:
 * ```ts
 * describeLimitStoreConformance('sqlite', () => new SqliteBackend({ path: tmpFile() }));
 * ```
 * Each test gets a fresh backend from `makeBackend` and closes it afterwards. Every store call is awaited,
 * so synchronous and asynchronous stores are tested alike. The differential test replays random operation
 * sequences on a {@link ReferenceLimitStore} (the pure algorithms, plainly) and on the store under test and
 * demands identical answers: that is how the memory store's cells and the Redis Lua mirror are checked.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Backend, LimitStore } from '../../src/backends/types.js';
import type { AlgorithmName, CompiledRule, Cost, Decision, Rule } from '../../src/core/types.js';
import { buildPlan, inspectPlan, type Plan, type PlanItem, stateKey } from '../../src/engine/plan.js';
import { ScopeRules } from '../../src/engine/rules.js';
import { describePools } from './limit-store-pools.js';
import { describeClockSkew } from './limit-store-skew.js';
import { ReferenceLimitStore } from './reference-store.js';

export interface LimitStoreConformanceOptions {
  /** Random sequences in the differential test. @default 150 */
  differentialRuns?: number;
}

const ALGORITHMS: readonly AlgorithmName[] = [
  'sliding-window',
  'token-bucket',
  'fixed-window',
  'anchored-window',
];
/** A time aligned to every window used below, so fixed windows start exactly here. */
const T0 = 1_700_000_040_000;

/** A 5-per-second rule of each algorithm, and the waits it produces (see the numbers in the tests). */
function fivePerSecond(algorithm: AlgorithmName): Rule {
  return { limit: 5, window: 1000, algorithm };
}

/**
 * Exact waits for a 5/1000ms rule filled with five 1-unit requests at T0, asked for 1 more unit at T0 + 100:
 * - sliding window (step 5 ms): the usage of sub-window [T0, T0+5) counts until T0 + 5 + 1000 → 905;
 * - token bucket (one token per 200 ms): TAT = T0 + 1000, 1 token is back at T0 + 200 → 100;
 * - fixed window: the window ends at T0 + 1000 → 900;
 * - anchored window: opened by the first charge at T0, it ends at T0 + 1000 → 900.
 */
const WAIT_AFTER_FILL: Record<AlgorithmName, number> = {
  'sliding-window': 905,
  'token-bucket': 100,
  'fixed-window': 900,
  'anchored-window': 900,
};

/** `resetMs` right after the fill, at T0. */
const RESET_AFTER_FILL: Record<AlgorithmName, number> = {
  'sliding-window': 1005,
  'token-bucket': 1000,
  'fixed-window': 1000,
  'anchored-window': 1000,
};

function request(scopes: string | string[], cost?: Cost) {
  return cost === undefined ? { scopes } : { scopes, cost };
}

/** Reads `used` of one rule of one scope. */
async function usedOf(store: LimitStore, rules: ScopeRules, scope: string, now: number): Promise<number[]> {
  const stats = await store.inspect(inspectPlan([scope], rules), now);
  return stats.map((s) => s.used);
}

export function describeLimitStoreConformance(
  name: string,
  makeBackend: () => Promise<Backend> | Backend,
  options: LimitStoreConformanceOptions = {},
): void {
  describe(`LimitStore conformance: ${name}`, () => {
    let backend: Backend;
    let store: LimitStore;

    beforeEach(async () => {
      backend = await makeBackend();
      store = backend.limits;
    });

    afterEach(async () => {
      await backend.close();
    });

    describe.each(ALGORITHMS)('%s', (algorithm) => {
      const rules = new ScopeRules({ a: fivePerSecond(algorithm), b: { limit: 2, window: 1000, algorithm } });
      const planA = buildPlan(request('a'), rules);

      it('admits up to the limit, reporting what is left, then refuses', async () => {
        for (let i = 1; i <= 5; i++) {
          expect(await store.decide(planA, T0)).toEqual({
            allowed: true,
            retryAfterMs: 0,
            remaining: 5 - i,
            limit: 5,
            blockedBy: null,
          });
        }
        expect(await store.decide(planA, T0)).toEqual({
          allowed: false,
          retryAfterMs: WAIT_AFTER_FILL[algorithm] + 100,
          remaining: 0,
          limit: 5,
          blockedBy: { scope: 'a', rule: 'requests/1000ms', unit: 'requests' },
        });
        expect(await usedOf(store, rules, 'a', T0)).toEqual([5]);
      });

      it('returns the exact retryAfterMs: refused just before it, admitted at it', async () => {
        for (let i = 0; i < 5; i++) await store.decide(planA, T0);
        const now = T0 + 100;
        const refused = await store.decide(planA, now);
        expect(refused.allowed).toBe(false);
        expect(refused.retryAfterMs).toBe(WAIT_AFTER_FILL[algorithm]);
        const at = now + refused.retryAfterMs;
        expect((await store.peek(planA, at - 0.001)).allowed).toBe(false);
        expect((await store.decide(planA, at - 0.001)).allowed).toBe(false);
        expect(await store.decide(planA, at)).toMatchObject({ allowed: true, retryAfterMs: 0 });
      });

      it('peek answers like decide but never charges', async () => {
        for (let i = 0; i < 4; i++) await store.decide(planA, T0);
        for (let i = 0; i < 3; i++) {
          expect(await store.peek(planA, T0)).toEqual({
            allowed: true,
            retryAfterMs: 0,
            remaining: 0,
            limit: 5,
            blockedBy: null,
          });
        }
        expect(await usedOf(store, rules, 'a', T0)).toEqual([4]);
        await store.decide(planA, T0);
        expect(await store.peek(planA, T0 + 100)).toMatchObject({
          allowed: false,
          retryAfterMs: WAIT_AFTER_FILL[algorithm],
        });
      });

      it('charges the cost in units, and a cost above capacity is refused forever without charging', async () => {
        const plan3 = buildPlan(request('a', 3), rules);
        expect(await store.decide(plan3, T0)).toMatchObject({ allowed: true, remaining: 2 });
        expect(await store.decide(plan3, T0)).toMatchObject({ allowed: false, remaining: 2 });
        const tooBig = buildPlan(request('a', 6), rules);
        const decision = await store.decide(tooBig, T0);
        expect(decision).toEqual({
          allowed: false,
          retryAfterMs: Number.POSITIVE_INFINITY,
          remaining: 2,
          limit: 5,
          blockedBy: { scope: 'a', rule: 'requests/1000ms', unit: 'requests' },
        });
        expect(await store.peek(tooBig, T0 + 1e9)).toMatchObject({
          allowed: false,
          retryAfterMs: Number.POSITIVE_INFINITY,
        });
        expect(await usedOf(store, rules, 'a', T0)).toEqual([3]);
        // A cost exactly at capacity is fine on an idle rule.
        expect((await store.decide(buildPlan(request('a', 5), rules), T0 + 10_000)).allowed).toBe(true);
      });

      it('a request refused by one scope charges no other scope (atomic)', async () => {
        const planB = buildPlan(request('b'), rules);
        await store.decide(planB, T0);
        await store.decide(planB, T0);
        for (const scopes of [
          ['a', 'b'],
          ['b', 'a'],
        ]) {
          const decision = await store.decide(buildPlan(request(scopes), rules), T0);
          expect(decision.allowed).toBe(false);
          expect(decision.blockedBy).toEqual({ scope: 'b', rule: 'requests/1000ms', unit: 'requests' });
          expect(decision.limit).toBe(2);
        }
        expect(await usedOf(store, rules, 'a', T0)).toEqual([0]);
        expect(await usedOf(store, rules, 'b', T0)).toEqual([2]);
        // Too big for b: refused forever, and a is still untouched.
        const tooBig = await store.decide(buildPlan(request(['a', 'b'], 3), rules), T0 + 60_000);
        expect(tooBig).toMatchObject({ allowed: false, retryAfterMs: Number.POSITIVE_INFINITY });
        expect(await usedOf(store, rules, 'a', T0 + 60_000)).toEqual([0]);
        // Both admit: both are charged.
        expect(await store.decide(buildPlan(request(['a', 'b']), rules), T0 + 60_000)).toMatchObject({
          allowed: true,
          remaining: 1,
          limit: 2,
        });
        expect(await usedOf(store, rules, 'a', T0 + 60_000)).toEqual([1]);
        expect(await usedOf(store, rules, 'b', T0 + 60_000)).toEqual([1]);
      });

      it('a request refused by one rule charges no other rule of the same scope (atomic)', async () => {
        const multi = new ScopeRules({
          m: [
            { limit: 5, window: 1000, algorithm },
            { limit: 100, window: 1000, algorithm, unit: 'tokens' },
          ],
        });
        const plan = (tokens: number) => buildPlan(request('m', { requests: 1, tokens }), multi);
        // Allowed: the tightest rule after the charge is reported (tokens: 40 of 100 left, vs 4 of 5).
        expect(await store.decide(plan(60), T0)).toMatchObject({ allowed: true, remaining: 40, limit: 100 });
        const refused = await store.decide(plan(50), T0);
        expect(refused).toMatchObject({
          allowed: false,
          remaining: 40,
          limit: 100,
          blockedBy: { scope: 'm', rule: 'tokens/1000ms', unit: 'tokens' },
        });
        expect(await usedOf(store, multi, 'm', T0)).toEqual([1, 60]);
        // A token-only request does not touch the request counter.
        expect((await store.decide(buildPlan(request('m', { tokens: 40 }), multi), T0)).allowed).toBe(true);
        expect(await usedOf(store, multi, 'm', T0)).toEqual([1, 100]);
      });

      it('decideMany decides in order, each plan seeing the charges of those before it', async () => {
        const planB = buildPlan(request('b'), rules);
        const both = buildPlan(request(['a', 'b']), rules);
        const decisions = await store.decideMany(
          [planA, both, planB, both, planA, buildPlan(request('a', 9), rules)],
          T0,
        );
        expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, true, false]);
        expect(decisions[3]).toMatchObject({ blockedBy: { scope: 'b' }, limit: 2 });
        expect(decisions[4]).toMatchObject({ remaining: 2, limit: 5 });
        expect(decisions[5]).toMatchObject({ retryAfterMs: Number.POSITIVE_INFINITY });
        // The refused plans charged nothing: a got 3 (planA, both, planA), b got 2.
        expect(await usedOf(store, rules, 'a', T0)).toEqual([3]);
        expect(await usedOf(store, rules, 'b', T0)).toEqual([2]);
        expect(await store.decideMany([], T0)).toEqual([]);
        // Same answers as one decide at a time.
        const reference = new ReferenceLimitStore();
        const plans = [planA, planA, both, planB, planA, planA];
        const expected = plans.map((plan) => reference.decide(plan, T0 + 5_000));
        expect(await store.decideMany(plans, T0 + 5_000)).toEqual(expected);
      });

      it('zero-cost items are admitted even on an exhausted rule and charge nothing', async () => {
        for (let i = 0; i < 5; i++) await store.decide(planA, T0);
        const zero: Plan = { scopes: ['a'], items: planA.items.map((item) => ({ ...item, cost: 0 })) };
        expect(await store.decide(zero, T0)).toMatchObject({ allowed: true, retryAfterMs: 0 });
        expect(await store.decide(zero, T0 + 1)).toMatchObject({ allowed: true, retryAfterMs: 0 });
        expect(await usedOf(store, rules, 'a', T0 + 1)).toEqual([5]);
        // Zero cost on an idle rule leaves it idle.
        const zeroB: Plan = {
          scopes: ['b'],
          items: buildPlan(request('b'), rules).items.map((item) => ({ ...item, cost: 0 })),
        };
        expect((await store.decide(zeroB, T0)).allowed).toBe(true);
        expect(await store.inspect(inspectPlan(['b'], rules), T0)).toMatchObject([{ used: 0, remaining: 2 }]);
        // A request with no item at all (its scopes have no rules for its units) is admitted.
        expect((await store.decide(buildPlan(request('a', { tokens: 5 }), rules), T0)).allowed).toBe(true);
      });

      it('adjust refunds (never below zero) and overcharges past the limit', async () => {
        for (let i = 0; i < 5; i++) await store.decide(planA, T0);
        const item = planA.items[0]!;
        await store.adjust([{ ...item, cost: -2 }], T0);
        expect(await usedOf(store, rules, 'a', T0)).toEqual([3]);
        expect(await store.decide(buildPlan(request('a', 2), rules), T0)).toMatchObject({
          allowed: true,
          remaining: 0,
        });
        expect((await store.decide(planA, T0)).allowed).toBe(false);
        // A refund larger than the usage gives no credit.
        await store.adjust([{ ...item, cost: -100 }], T0);
        expect(await usedOf(store, rules, 'a', T0)).toEqual([0]);
        for (let i = 0; i < 5; i++) expect((await store.decide(planA, T0)).allowed).toBe(true);
        expect((await store.decide(planA, T0)).allowed).toBe(false);
      });

      it('adjust records usage past the limit and delays admission accordingly', async () => {
        const item = planA.items[0]!;
        await store.adjust([{ ...item, cost: 7 }], T0);
        const stats = await store.inspect(inspectPlan(['a'], rules), T0);
        expect(stats[0]).toMatchObject({ used: 5, remaining: 0 });
        // Sliding: 7 used in one sub-window, all expire at T0+1005. Fixed: window end. Token bucket: TAT is
        // T0 + 7·200, one token fits at TAT - 4·200 = T0 + 600.
        const expected = {
          'sliding-window': 1005,
          'fixed-window': 1000,
          'anchored-window': 1000,
          'token-bucket': 600,
        }[algorithm];
        expect(await store.decide(planA, T0)).toMatchObject({ allowed: false, retryAfterMs: expected });
        expect((await store.decide(planA, T0 + expected)).allowed).toBe(true);
      });

      it('block refuses with blockedBy rule "block", extends only, and ends exactly', async () => {
        await store.block(['a'], T0 + 1000);
        expect(await store.decide(planA, T0 + 250)).toEqual({
          allowed: false,
          retryAfterMs: 750,
          remaining: 0,
          limit: 5,
          blockedBy: { scope: 'a', rule: 'block', unit: 'requests' },
        });
        await store.block(['a'], T0 + 500); // shorter: ignored
        expect((await store.peek(planA, T0 + 250)).retryAfterMs).toBe(750);
        await store.block(['a'], T0 + 2000); // longer: extends
        expect((await store.peek(planA, T0 + 250)).retryAfterMs).toBe(1750);
        expect((await store.decide(planA, T0 + 2000 - 0.5)).allowed).toBe(false);
        expect(await usedOf(store, rules, 'a', T0 + 1999)).toEqual([0]);
        expect(await store.decide(planA, T0 + 2000)).toMatchObject({ allowed: true, remaining: 4 });
      });

      it('a block on one scope refuses a multi-scope request and charges nothing', async () => {
        await store.block(['b'], T0 + 300);
        const decision = await store.decide(buildPlan(request(['a', 'b']), rules), T0);
        expect(decision).toMatchObject({
          allowed: false,
          retryAfterMs: 300,
          blockedBy: { scope: 'b', rule: 'block', unit: 'requests' },
        });
        expect(await usedOf(store, rules, 'a', T0)).toEqual([0]);
        expect((await store.decide(planA, T0)).allowed).toBe(true);
      });

      it('retryAfterMs is the longest of the block and the rule waits', async () => {
        for (let i = 0; i < 5; i++) await store.decide(planA, T0);
        await store.block(['a'], T0 + 150);
        expect(await store.peek(planA, T0 + 100)).toMatchObject({
          retryAfterMs: WAIT_AFTER_FILL[algorithm],
          blockedBy: { scope: 'a', rule: 'requests/1000ms' },
        });
        await store.block(['a'], T0 + 1500);
        expect(await store.peek(planA, T0 + 100)).toMatchObject({
          retryAfterMs: 1400,
          blockedBy: { scope: 'a', rule: 'block' },
        });
      });

      it('inspect reports usage, reset time and block time of every rule', async () => {
        const stats0 = await store.inspect(inspectPlan(['a'], rules), T0);
        expect(stats0).toEqual([
          {
            scope: 'a',
            rule: 'requests/1000ms',
            unit: 'requests',
            algorithm,
            limit: 5,
            windowMs: 1000,
            used: 0,
            remaining: 5,
            resetMs: 0,
            blockedMs: 0,
          },
        ]);
        for (let i = 0; i < 5; i++) await store.decide(planA, T0);
        await store.block(['a'], T0 + 3000);
        const stats = await store.inspect(inspectPlan(['a'], rules), T0);
        expect(stats).toEqual([
          {
            ...stats0[0],
            used: 5,
            remaining: 0,
            resetMs: RESET_AFTER_FILL[algorithm],
            blockedMs: 3000,
          },
        ]);
        const later = await store.inspect(inspectPlan(['a'], rules), T0 + RESET_AFTER_FILL[algorithm]);
        expect(later[0]).toMatchObject({ used: 0, remaining: 5, resetMs: 0 });
      });

      it('reset(scope) forgets one scope (state and block) and nothing else', async () => {
        const scoped = new ScopeRules({ '*': fivePerSecond(algorithm) });
        const scopes = ['chat:1', 'chat:10', 'chat:1|x', 'other'];
        for (const scope of scopes) {
          for (let i = 0; i < 5; i++) await store.decide(buildPlan(request(scope), scoped), T0);
        }
        await store.block(['chat:1', 'chat:10'], T0 + 5000);
        await store.reset('chat:1');
        expect(await usedOf(store, scoped, 'chat:1', T0)).toEqual([0]);
        expect(await store.decide(buildPlan(request('chat:1'), scoped), T0)).toMatchObject({
          allowed: true,
          remaining: 4,
        });
        for (const scope of ['chat:10', 'chat:1|x', 'other']) {
          expect(await usedOf(store, scoped, scope, T0)).toEqual([5]);
        }
        const stats = await store.inspect(inspectPlan(['chat:10'], scoped), T0);
        expect(stats[0]!.blockedMs).toBe(5000);
      });

      it('reset() forgets every scope and every block', async () => {
        for (let i = 0; i < 5; i++) await store.decide(planA, T0);
        await store.decide(buildPlan(request('b'), rules), T0);
        await store.block(['a', 'b', 'unruled'], T0 + 5000);
        await store.reset();
        expect(await usedOf(store, rules, 'a', T0)).toEqual([0]);
        expect(await usedOf(store, rules, 'b', T0)).toEqual([0]);
        expect(await store.decide(planA, T0)).toMatchObject({ allowed: true, remaining: 4 });
        expect((await store.decide(buildPlan(request('unruled'), rules), T0)).allowed).toBe(true);
      });
    });

    it('a token bucket admits a burst up to `burst`, then refills at limit/window', async () => {
      const rules = new ScopeRules({ t: { limit: 3, window: 1000, algorithm: 'token-bucket', burst: 6 } });
      const plan = buildPlan(request('t'), rules);
      for (let i = 0; i < 6; i++) expect((await store.decide(plan, T0)).allowed).toBe(true);
      const refused = await store.decide(plan, T0);
      // One token per 1000/3 ms (to the precision of doubles near T0).
      expect(refused.retryAfterMs).toBeCloseTo(1000 / 3, 2);
      expect((await store.decide(plan, T0 + refused.retryAfterMs - 0.01)).allowed).toBe(false);
      expect((await store.decide(plan, T0 + refused.retryAfterMs)).allowed).toBe(true);
      expect(await store.decide(buildPlan(request('t', 7), rules), T0 + 1e6)).toMatchObject({
        allowed: false,
        retryAfterMs: Number.POSITIVE_INFINITY,
      });
    });

    it('sleeping exactly retryAfterMs is enough, even where now + (at - now) rounds below at', async () => {
      // Cases where the plain difference lands one ulp short; the algorithms nudge the wait (see msUntil).
      const cases = [
        { limit: 7, window: 999, t0: 49.375, now: 147.77019748934987, cost: 5 },
        { limit: 6, window: 700, t0: 110.125, now: 141.24912448093488, cost: 5 },
        { limit: 7, window: 60_000, t0: 463.75, now: 3143.705154308762, cost: 7 },
        { limit: 9, window: 1000, t0: 344.375, now: 430.3812055172842, cost: 6 },
      ];
      for (const [i, c] of cases.entries()) {
        const scope = `exact${i}`;
        const rules = new ScopeRules({
          [scope]: { limit: c.limit, window: c.window, algorithm: 'token-bucket' },
        });
        const reference = new ReferenceLimitStore();
        const fill = buildPlan(request(scope, c.limit), rules);
        const ask = buildPlan(request(scope, c.cost), rules);
        expect((await store.decide(fill, c.t0)).allowed).toBe(true);
        reference.decide(fill, c.t0);
        const refused = await store.decide(ask, c.now);
        expect(refused).toEqual(reference.decide(ask, c.now));
        expect(refused.allowed).toBe(false);
        expect((await store.decide(ask, c.now + refused.retryAfterMs)).allowed, JSON.stringify(c)).toBe(true);
      }
    });

    it('blocks a scope that has no rules', async () => {
      const rules = new ScopeRules({});
      const plan = buildPlan(request('free'), rules);
      expect((await store.decide(plan, T0)).allowed).toBe(true);
      await store.block(['free'], T0 + 100);
      expect(await store.decide(plan, T0 + 40)).toMatchObject({
        allowed: false,
        retryAfterMs: 60,
        blockedBy: { scope: 'free', rule: 'block', unit: 'requests' },
      });
      expect((await store.decide(plan, T0 + 100)).allowed).toBe(true);
    });

    it('a block in the past changes nothing', async () => {
      const rules = new ScopeRules({ a: { limit: 1, window: 1000 } });
      await store.block(['a'], T0 - 1);
      expect((await store.decide(buildPlan(request('a'), rules), T0)).allowed).toBe(true);
    });

    describeClockSkew(() => store);
    describePools(() => store);
    describeDifferential(() => store, options.differentialRuns ?? 150);
  });
}

// ---------------------------------------------------------------------------------------------------------
// Differential test: the store under test must answer exactly like the pure algorithms.

type Op =
  | { kind: 'decide' | 'peek' | 'inspect'; dt: number; scopes: number[]; requests: number; tokens: number }
  | { kind: 'decide-many'; dt: number; plans: Array<{ scopes: number[]; requests: number; tokens: number }> }
  | { kind: 'adjust'; dt: number; scope: number; rule: number; delta: number; back: number | null }
  | { kind: 'block'; dt: number; scopes: number[]; ms: number }
  | { kind: 'wait-retry'; factor: number }
  | { kind: 'reset'; dt: number; scope: number | null };

const SCOPE_COUNT = 4; // scope 3 has no rules

const ruleArb: fc.Arbitrary<Omit<Rule, 'name' | 'unit'>> = fc.oneof(
  fc.record({
    algorithm: fc.constant<AlgorithmName>('sliding-window'),
    limit: fc.integer({ min: 1, max: 12 }),
    window: fc.constantFrom(7, 100, 250, 999, 1000, 60_000),
  }),
  fc.record({
    algorithm: fc.constant<AlgorithmName>('fixed-window'),
    limit: fc.integer({ min: 1, max: 12 }),
    window: fc.constantFrom(7, 100, 250, 999, 1000, 60_000),
  }),
  fc.record({
    algorithm: fc.constant<AlgorithmName>('anchored-window'),
    limit: fc.integer({ min: 1, max: 12 }),
    window: fc.constantFrom(7, 100, 250, 999, 1000, 60_000),
  }),
  fc.record(
    {
      algorithm: fc.constant<AlgorithmName>('token-bucket'),
      limit: fc.integer({ min: 1, max: 12 }),
      // Windows that give fractional emission intervals (1000/3, 700/12, 60000/7, …).
      window: fc.constantFrom(100, 700, 1000, 999, 60_000),
      burst: fc.integer({ min: 1, max: 15 }),
    },
    { requiredKeys: ['algorithm', 'limit', 'window'] },
  ),
);

/** Rules of scopes 0..2: one to three rules each, in `requests` or `tokens`. */
const configArb = fc.array(
  fc.array(fc.record({ rule: ruleArb, tokens: fc.boolean() }), { minLength: 1, maxLength: 3 }),
  { minLength: 3, maxLength: 3 },
);

/**
 * Most a clock lags behind the newest time seen: below the idle grace of every store (1 s for memory and
 * SQLite, `idleGrace` for Redis), within which a lagging clock sees exactly what the pure algorithms do.
 */
const MAX_LAG = 999;

const dtArb = fc.oneof(
  { weight: 2, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 300 }) },
  { weight: 3, arbitrary: fc.double({ min: 0, max: 300, noNaN: true, noDefaultInfinity: true }) },
  { weight: 1, arbitrary: fc.integer({ min: 300, max: 70_000 }) },
  // A clock that steps back: another process whose clock lags (see limit-store-skew.ts for the policy), by
  // less than the idle grace of every store (the driver keeps the lag behind the newest time below MAX_LAG).
  { weight: 1, arbitrary: fc.integer({ min: -MAX_LAG, max: -1 }) },
  { weight: 1, arbitrary: fc.double({ min: -MAX_LAG, max: -0.001, noNaN: true, noDefaultInfinity: true }) },
);
const scopesArb = fc.uniqueArray(fc.integer({ min: 0, max: SCOPE_COUNT - 1 }), {
  minLength: 1,
  maxLength: 3,
});
const costArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom(0.5, 1.25, 2.75) },
  { weight: 1, arbitrary: fc.integer({ min: 5, max: 20 }) },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('decide' as const),
      dt: dtArb,
      scopes: scopesArb,
      requests: costArb,
      tokens: costArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constantFrom('peek' as const, 'inspect' as const),
      dt: dtArb,
      scopes: scopesArb,
      requests: costArb,
      tokens: costArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('decide-many' as const),
      dt: dtArb,
      plans: fc.array(fc.record({ scopes: scopesArb, requests: costArb, tokens: costArb }), {
        minLength: 1,
        maxLength: 6,
      }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('adjust' as const),
      dt: dtArb,
      scope: fc.integer({ min: 0, max: 2 }),
      rule: fc.integer({ min: 0, max: 2 }),
      delta: fc.oneof(fc.integer({ min: -6, max: 6 }), fc.constantFrom(-0.5, 1.5)),
      // The correction attributed to an earlier instant (`PlanItem.at = now - back`), or to now.
      back: fc.option(
        fc.oneof(fc.integer({ min: 0, max: 70_000 }), fc.double({ min: 0, max: 2000, noNaN: true })),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('block' as const),
      dt: dtArb,
      scopes: scopesArb,
      ms: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.double({ min: 0, max: 2000, noNaN: true })),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('wait-retry' as const),
      factor: fc.constantFrom(1, 1, 1, 0.5),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('reset' as const),
      dt: dtArb,
      scope: fc.option(fc.integer({ min: 0, max: SCOPE_COUNT - 1 }), { freq: 3 }),
    }),
  },
);

const startArb = fc.oneof(
  fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
  fc.double({ min: 1_600_000_000_000, max: 1_800_000_000_000, noNaN: true }),
  fc.integer({ min: 0, max: 100_000 }),
);

function describeDifferential(getStore: () => LimitStore, numRuns: number): void {
  it('answers exactly like the pure algorithms on random sequences (differential)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        configArb,
        startArb,
        fc.array(opArb, { minLength: 1, maxLength: 60 }),
        async (config, start, ops) => {
          const subject = getStore();
          const reference = new ReferenceLimitStore();
          // Unique scope names per run keep runs apart even if the store under test keeps state around.
          const prefix = `d${run++}:`;
          const names = Array.from({ length: SCOPE_COUNT }, (_, i) => `${prefix}s${i}`);
          const definitions: Record<string, Rule[]> = {};
          config.forEach((list, i) => {
            definitions[names[i]!] = list.map(({ rule, tokens }, j) => ({
              ...rule,
              unit: tokens ? 'tokens' : 'requests',
              name: `r${j}`,
            }));
          });
          const rules = new ScopeRules(definitions);
          let now = start;
          let newest = start;
          let lastRetry = 0;
          for (const [index, op] of ops.entries()) {
            const at = `op ${index} ${JSON.stringify(op)} at ${now}`;
            if (op.kind === 'wait-retry') {
              if (Number.isFinite(lastRetry) && lastRetry > 0) now += lastRetry * op.factor;
              newest = Math.max(newest, now);
              continue;
            }
            now = Math.max(0, now + op.dt, newest - MAX_LAG);
            newest = Math.max(newest, now);
            switch (op.kind) {
              case 'decide':
              case 'peek':
              case 'inspect': {
                const scopes = op.scopes.map((i) => names[i]!);
                if (op.kind === 'inspect') {
                  const plan = inspectPlan(scopes, rules);
                  expect(await subject.inspect(plan, now), at).toEqual(reference.inspect(plan, now));
                  break;
                }
                const plan = buildPlan({ scopes, cost: { requests: op.requests, tokens: op.tokens } }, rules);
                const expected: Decision = reference[op.kind](plan, now);
                expect(await subject[op.kind](plan, now), at).toEqual(expected);
                lastRetry = expected.retryAfterMs;
                break;
              }
              case 'decide-many': {
                const plans = op.plans.map((p) =>
                  buildPlan(
                    {
                      scopes: p.scopes.map((i) => names[i]!),
                      cost: { requests: p.requests, tokens: p.tokens },
                    },
                    rules,
                  ),
                );
                const expected = reference.decideMany(plans, now);
                expect(await subject.decideMany(plans, now), at).toEqual(expected);
                lastRetry = expected.at(-1)!.retryAfterMs;
                break;
              }
              case 'adjust': {
                const scope = names[op.scope]!;
                const list = rules.resolve(scope);
                const rule: CompiledRule = list[op.rule % list.length]!;
                const item = { scope, key: stateKey(scope, rule.name), rule, cost: op.delta };
                const items: PlanItem[] = [op.back === null ? item : { ...item, at: now - op.back }];
                reference.adjust(items, now);
                await subject.adjust(items, now);
                break;
              }
              case 'block': {
                const scopes = op.scopes.map((i) => names[i]!);
                reference.block(scopes, now + op.ms);
                await subject.block(scopes, now + op.ms);
                break;
              }
              case 'reset': {
                // reset() of everything would also wipe other runs' scopes, which is fine: they are done.
                const scope = op.scope === null ? undefined : names[op.scope]!;
                reference.reset(scope);
                await subject.reset(scope);
                break;
              }
            }
          }
          // The final state must agree too.
          const all = inspectPlan(names, rules);
          expect(await subject.inspect(all, now)).toEqual(reference.inspect(all, now));
        },
      ),
      { numRuns, seed: 20_260_214 },
    );
  });
}
