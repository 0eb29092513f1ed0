import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { algorithms } from '../../src/algorithms/index.js';
import type { RuleState } from '../../src/algorithms/types.js';
import { MemoryLimitStore } from '../../src/backends/memory/limit-store.js';
import type { AlgorithmName, Rule } from '../../src/core/types.js';
import { buildPlan } from '../../src/engine/plan.js';
import { ScopeRules } from '../../src/engine/rules.js';
import { arrivalsArb, rule } from './helpers.js';

const algorithmArb = fc.constantFrom<AlgorithmName>('sliding-window', 'token-bucket', 'fixed-window');

/** A time strictly before `t` that is a distinct double, or undefined if `t - ε` rounds back to `t`. */
function earlierThan(t: number, wait: number, u: number): number | undefined {
  const earlier = t - Math.min(wait, 1e-3) * Math.max(u, 0.01);
  return earlier < t ? earlier : undefined;
}

describe('retryAfterMs is exact', () => {
  it('for each algorithm: refused before now + wait, admitted at now + wait', () => {
    fc.assert(
      fc.property(
        algorithmArb,
        fc.integer({ min: 1, max: 12 }),
        fc.constantFrom(7, 100, 999, 1000, 60_000),
        arrivalsArb(6, 60),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        fc.double({ min: 0, max: 2000, noNaN: true }),
        fc.integer({ min: 1, max: 12 }),
        (algorithm, limit, window, history, u, later, askCost) => {
          const r = rule({ limit, window, algorithm });
          const a = algorithms[algorithm];
          let state: RuleState | undefined;
          for (const { t, cost } of history)
            if (a.wait(state, t, cost, r) === 0) state = a.charge(state, t, cost, r);
          const now = history.at(-1)!.t + later;
          const cost = Math.min(askCost, limit);
          // `remaining` must agree with `wait` for whole units (fractional usage sums are rounded).
          const whole = history.every((a) => Number.isInteger(a.cost));
          const wait = a.wait(state, now, cost, r);
          expect(wait).toBeGreaterThanOrEqual(0);
          expect(Number.isFinite(wait)).toBe(true);
          if (wait === 0) {
            // Admitted now: `remaining` agrees (integer costs).
            if (whole) expect(a.remaining(state, now, r)).toBeGreaterThanOrEqual(cost);
            return;
          }
          expect(a.wait(state, now + wait, cost, r)).toBe(0);
          // Sums of fractional usage round differently in `wait` and at the later check, so a window may
          // admit a hair earlier than said (never later). Whole units are exact.
          if (!whole && algorithm !== 'token-bucket') return;
          // Anywhere in [now, now + wait) it is still refused (if the time rounds to a distinct double).
          const inside = now + wait * u;
          if (inside < now + wait) expect(a.wait(state, inside, cost, r)).toBeGreaterThan(0);
          const justBefore = earlierThan(now + wait, wait, u);
          if (justBefore !== undefined && justBefore >= now) {
            expect(a.wait(state, justBefore, cost, r)).toBeGreaterThan(0);
          }
          if (whole) expect(a.remaining(state, now, r)).toBeLessThan(cost);
        },
      ),
      { numRuns: 2_000, seed: 8 },
    );
  });

  it('for multi-scope, multi-rule decisions with blocks, through MemoryLimitStore', () => {
    const ruleArb: fc.Arbitrary<Rule> = fc.record({
      limit: fc.integer({ min: 1, max: 8 }),
      window: fc.constantFrom(100, 999, 1000, 3000),
      algorithm: algorithmArb,
    });
    fc.assert(
      fc.property(
        fc.array(ruleArb, { minLength: 1, maxLength: 3 }),
        fc.array(ruleArb, { minLength: 1, maxLength: 2 }),
        fc.array(
          fc.record({
            gap: fc.double({ min: 0, max: 400, noNaN: true }),
            scopes: fc.integer({ min: 0, max: 2 }),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        fc.option(fc.double({ min: 0, max: 3000, noNaN: true }), { nil: undefined }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        fc.double({ min: 0, max: 1.8e12, noNaN: true }),
        (globalRules, chatRules, history, block, u, start) => {
          const rules = new ScopeRules({
            global: globalRules.map((r, i) => ({ ...r, name: `g${i}` })),
            'chat:*': chatRules.map((r, i) => ({ ...r, name: `c${i}` })),
          });
          const plans = [
            buildPlan({ scopes: 'global' }, rules),
            buildPlan({ scopes: 'chat:1' }, rules),
            buildPlan({ scopes: ['global', 'chat:1'] }, rules),
          ];
          const store = new MemoryLimitStore();
          let now = start;
          for (const { gap, scopes } of history) {
            now += gap;
            store.decide(plans[scopes]!, now);
          }
          if (block !== undefined) store.block(['chat:1'], now + block);
          const plan = plans[2]!;
          const decision = store.peek(plan, now);
          if (decision.allowed) return;
          const at = now + decision.retryAfterMs;
          const inside = now + decision.retryAfterMs * u;
          if (inside < at) expect(store.peek(plan, inside).allowed).toBe(false);
          const justBefore = earlierThan(at, decision.retryAfterMs, u);
          if (justBefore !== undefined) expect(store.peek(plan, justBefore).allowed).toBe(false);
          expect(store.decide(plan, at).allowed).toBe(true);
        },
      ),
      { numRuns: 500, seed: 9 },
    );
  });
});
