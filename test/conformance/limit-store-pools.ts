/**
 * Endpoint pools, part of the LimitStore conformance suite: a plan charged on its own scopes plus exactly one
 * of its choices (src/engine/choices.ts), tried in the order given. The round-robin order itself is the
 * limiter's (test/limiter/pools.test.ts); here the stores are held to "first that fits, atomically".
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LimitStore } from '../../src/backends/types.js';
import type { AlgorithmName, Decision, Rule } from '../../src/core/types.js';
import { poolPlan } from '../../src/engine/choices.js';
import { buildPlan, inspectPlan, type Plan } from '../../src/engine/plan.js';
import { ScopeRules } from '../../src/engine/rules.js';
import { ReferenceLimitStore } from './reference-store.js';

const T0 = 1_700_000_040_000;

/** `g` (the request's own scope, 10 per second) and three endpoints of 2 per second each. */
function pool(algorithm: AlgorithmName) {
  const rules = new ScopeRules({
    g: { limit: 10, window: 1000, algorithm },
    p: { limit: 2, window: 1000, algorithm },
    o1: { limit: 2, window: 1000, algorithm },
    o2: { limit: 2, window: 1000, algorithm },
  });
  const base = buildPlan({ scopes: 'g' }, rules);
  const alternatives = ['p', 'o1', 'o2'].map((scope) => buildPlan({ scopes: scope }, rules));
  const plan = (order: number[] = [0, 1, 2]) => poolPlan(base, alternatives, order);
  return { rules, plan };
}

export function describePools(getStore: () => LimitStore): void {
  describe.each<AlgorithmName>(['sliding-window', 'token-bucket', 'fixed-window'])(
    'endpoint pools: %s',
    (algorithm) => {
      const { rules, plan } = pool(algorithm);
      const used = async (now: number) => {
        const stats = await getStore().inspect(inspectPlan(['g', 'p', 'o1', 'o2'], rules), now);
        return stats.map((s) => s.used);
      };

      it('admits on the first choice that fits, charging it and the own scopes only', async () => {
        const store = getStore();
        const got: Array<number | undefined> = [];
        for (let i = 0; i < 6; i++) {
          const decision = await store.decide(plan(), T0);
          expect(decision.allowed).toBe(true);
          got.push(decision.alternative);
          // Never two alternatives charged: the alternatives' usage adds up to the admissions.
          const [g, ...alts] = await used(T0);
          expect(g).toBe(i + 1);
          expect(alts.reduce((a, b) => a + b, 0)).toBe(i + 1);
        }
        expect(got).toEqual([0, 0, 1, 1, 2, 2]);
        const refused = await store.decide(plan(), T0);
        expect(refused).toMatchObject({ allowed: false, limit: 2 });
        expect(await used(T0)).toEqual([6, 2, 2, 2]);
      });

      it('tries the choices in the order given (the limiter rotates the overflow)', async () => {
        const store = getStore();
        expect((await store.decide(plan([2, 0, 1]), T0)).alternative).toBe(2);
        expect((await store.decide(plan([1, 2, 0]), T0)).alternative).toBe(1);
        expect(await used(T0)).toEqual([2, 0, 1, 1]);
      });

      it('skips a blocked alternative and one whose rule is full', async () => {
        const store = getStore();
        await store.block(['p'], T0 + 500);
        await store.decide(buildPlan({ scopes: 'o1', cost: 2 }, rules), T0);
        expect(await store.decide(plan(), T0 + 100)).toMatchObject({ allowed: true, alternative: 2 });
        expect(await used(T0 + 100)).toEqual([1, 0, 2, 1]);
      });

      it('when none fits: the earliest alternative to admit, its wait and its binding rule', async () => {
        const store = getStore();
        await store.block(['p'], T0 + 5000);
        await store.decide(buildPlan({ scopes: 'o1', cost: 2 }, rules), T0);
        await store.decide(buildPlan({ scopes: 'o2', cost: 2 }, rules), T0 + 300);
        const refused = await store.decide(plan(), T0 + 400);
        const o1 = await store.peek(buildPlan({ scopes: 'o1' }, rules), T0 + 400);
        expect(refused).toEqual({ ...o1, alternative: 1 });
        expect(refused.blockedBy).toMatchObject({ scope: 'o1' });
        expect(await used(T0 + 400)).toEqual([0, 0, 2, 2]);
        // It admits (on o1) exactly when told.
        expect(await store.decide(plan(), T0 + 400 + refused.retryAfterMs)).toMatchObject({
          allowed: true,
          alternative: 1,
        });
      });

      it('a refusal by the own scopes charges nothing, whatever the alternatives', async () => {
        const store = getStore();
        await store.decide(buildPlan({ scopes: 'g', cost: 10 }, rules), T0);
        const refused = await store.decide(plan(), T0);
        expect(refused).toMatchObject({ allowed: false, blockedBy: { scope: 'g' }, alternative: 0 });
        expect(await used(T0)).toEqual([10, 0, 0, 0]);
      });

      it('peek answers like decide without charging; decideMany mixes pools and plain plans in order', async () => {
        const store = getStore();
        expect(await store.peek(plan(), T0)).toMatchObject({ allowed: true, alternative: 0 });
        expect(await used(T0)).toEqual([0, 0, 0, 0]);
        const plainP = buildPlan({ scopes: 'p' }, rules);
        const decisions = await store.decideMany([plan(), plainP, plan(), plan(), plan([2, 1, 0])], T0);
        expect(decisions.map((d) => [d.allowed, d.alternative])).toEqual([
          [true, 0],
          [true, undefined],
          [true, 1],
          [true, 1],
          [true, 2],
        ]);
        expect(await used(T0)).toEqual([4, 2, 2, 1]);
      });
    },
  );

  describePoolDifferential(getStore);
}

/** Random pools against the reference store: every decision and the final usage must agree. */
function describePoolDifferential(getStore: () => LimitStore): void {
  const ruleArb: fc.Arbitrary<Rule> = fc.record({
    algorithm: fc.constantFrom<AlgorithmName>('sliding-window', 'token-bucket', 'fixed-window'),
    limit: fc.integer({ min: 1, max: 6 }),
    window: fc.constantFrom(100, 700, 1000),
  });
  const opArb = fc.record({
    kind: fc.constantFrom('decide', 'decide', 'decide', 'peek', 'many', 'block'),
    dt: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: -500, max: -1 })),
    // A permutation of the five scopes: the first is the request's own, the next 1..4 its alternatives.
    scopes: fc.shuffledSubarray([0, 1, 2, 3, 4], { minLength: 5, maxLength: 5 }),
    alternatives: fc.integer({ min: 1, max: 4 }),
    order: fc.shuffledSubarray([0, 1, 2, 3], { minLength: 4, maxLength: 4 }),
    cost: fc.constantFrom(1, 1, 2, 0.5),
  });
  let run = 0;
  it('decides pools exactly like the reference store (differential)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(ruleArb, { minLength: 5, maxLength: 5 }),
        fc.array(opArb, { minLength: 1, maxLength: 30 }),
        async (ruleList, ops) => {
          const store = getStore();
          const reference = new ReferenceLimitStore();
          const names = ruleList.map((_, i) => `pool${run}:s${i}`);
          run++;
          const rules = new ScopeRules(Object.fromEntries(names.map((n, i) => [n, ruleList[i]!])));
          const pooled = (op: (typeof ops)[number]): Plan => {
            const [own, ...rest] = op.scopes.map((i) => names[i]!);
            const alternatives = rest
              .slice(0, op.alternatives)
              .map((scope) => buildPlan({ scopes: scope, cost: op.cost }, rules));
            const order = op.order.filter((i) => i < alternatives.length);
            return poolPlan(buildPlan({ scopes: own!, cost: op.cost }, rules), alternatives, order);
          };
          let now = T0;
          let newest = T0;
          for (const [index, op] of ops.entries()) {
            now = Math.max(now + op.dt, newest - 900);
            newest = Math.max(newest, now);
            const at = `op ${index} ${JSON.stringify(op)}`;
            if (op.kind === 'block') {
              const scope = [names[op.scopes[0]!]!];
              reference.block(scope, now + 150);
              await store.block(scope, now + 150);
            } else if (op.kind === 'many') {
              const plans = [pooled(op), buildPlan({ scopes: names[op.scopes[1]!]! }, rules), pooled(op)];
              const expected: Decision[] = reference.decideMany(plans, now);
              expect(await store.decideMany(plans, now), at).toEqual(expected);
            } else {
              const plan = pooled(op);
              const kind = op.kind as 'decide' | 'peek';
              expect(await store[kind](plan, now), at).toEqual(reference[kind](plan, now));
            }
          }
          const all = inspectPlan(names, rules);
          expect(await store.inspect(all, now)).toEqual(reference.inspect(all, now));
        },
      ),
      { numRuns: 60, seed: 20_261_202 },
    );
  });
}
