import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryLimitStore } from '../../src/backends/memory/limit-store.js';
import type { AlgorithmName, Rule } from '../../src/core/types.js';
import { buildPlan, inspectPlan } from '../../src/engine/plan.js';
import { ScopeRules } from '../../src/engine/rules.js';

const T = 1_700_000_000_000;
const ALGORITHMS: AlgorithmName[] = ['sliding-window', 'token-bucket', 'fixed-window', 'anchored-window'];
/** Scopes of the runs: exact patterns, prefix patterns (two lengths), and one that no pattern matches. */
const SCOPES = ['global', 'bot:1', 'bot:2', 'chat:1', 'chat:2', 'chat:12', 'other'];

const ruleArb = (name: string): fc.Arbitrary<Rule> =>
  fc.record({
    limit: fc.integer({ min: 1, max: 4 }),
    window: fc.constantFrom(100, 1000, 3000),
    algorithm: fc.constantFrom(...ALGORITHMS),
    unit: fc.constantFrom('requests', 'requests', 'tokens'),
    name: fc.constant(name),
  });

/** One to three rules, named `a`, `b`, `c` (so a redefinition carries states over by name). */
const rulesArb = fc
  .integer({ min: 1, max: 3 })
  .chain((n) => fc.tuple(...['a', 'b', 'c'].slice(0, n).map(ruleArb)));

type Op =
  | { kind: 'decide'; scopes: string | string[]; dt: number }
  | { kind: 'block'; scope: string; ms: number }
  | { kind: 'define'; pattern: string; rules: Rule[] };

const scopesArb: fc.Arbitrary<string | string[]> = fc.oneof(
  fc.constantFrom(...SCOPES),
  fc.uniqueArray(fc.constantFrom(...SCOPES), { minLength: 1, maxLength: 4 }),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record({
      kind: fc.constant('decide' as const),
      scopes: scopesArb,
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 700 }), fc.integer({ min: -300, max: -1 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('block' as const),
      scope: fc.constantFrom(...SCOPES),
      ms: fc.integer({ min: 1, max: 500 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('define' as const),
      pattern: fc.constantFrom('global', 'bot:*', 'chat:*', 'chat:1*'),
      rules: rulesArb,
    }),
  },
);

describe('MemoryLimitStore.decideDefault', () => {
  it('decides and charges exactly what decide() does on the plan of { scopes } (differential)', () => {
    fc.assert(
      fc.property(
        rulesArb,
        rulesArb,
        rulesArb,
        fc.array(opArb, { minLength: 1, maxLength: 80 }),
        (global, bot, chat, ops) => {
          const rules = new ScopeRules({ global, 'bot:*': bot, 'chat:*': chat });
          const fast = new MemoryLimitStore();
          const reference = new MemoryLimitStore();
          let now = T;
          for (const op of ops) {
            if (op.kind === 'block') {
              fast.block([op.scope], now + op.ms);
              reference.block([op.scope], now + op.ms);
            } else if (op.kind === 'define') {
              rules.define(op.pattern, op.rules);
            } else {
              now += op.dt;
              const expected = reference.decide(buildPlan({ scopes: op.scopes }, rules), now);
              expect(fast.decideDefault(op.scopes, rules, now)).toEqual(expected);
            }
          }
          const all = inspectPlan(SCOPES, rules);
          expect(fast.inspect(all, now)).toEqual(reference.inspect(all, now));
          expect(fast.size).toBe(reference.size);
        },
      ),
      { numRuns: 400, seed: 11 },
    );
  });

  it("resolves each limiter's own rules when two limiters share one store", () => {
    fc.assert(
      fc.property(
        rulesArb,
        rulesArb,
        fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
        (a, b, turns) => {
          const limiters = [
            new ScopeRules({ 'chat:*': a, global: a }),
            new ScopeRules({ 'chat:*': b, global: b }),
          ];
          const fast = new MemoryLimitStore();
          const reference = new MemoryLimitStore();
          turns.forEach((second, i) => {
            const rules = limiters[second ? 1 : 0]!;
            const scopes = i % 2 === 0 ? 'chat:1' : ['global', 'chat:1'];
            const expected = reference.decide(buildPlan({ scopes }, rules), T + i * 10);
            expect(fast.decideDefault(scopes, rules, T + i * 10)).toEqual(expected);
          });
        },
      ),
      { numRuns: 300, seed: 5 },
    );
  });

  it('keeps deciding exactly after sweeps deleted idle states (every 1024 operations)', () => {
    const rules = new ScopeRules({
      'chat:*': [
        { limit: 2, window: 1000, algorithm: 'fixed-window' },
        { limit: 3, window: 5000, name: 'slow' },
      ],
      global: { limit: 1e9, window: '1h' },
    });
    const fast = new MemoryLimitStore();
    const reference = new MemoryLimitStore();
    let now = T;
    for (let i = 0; i < 6000; i++) {
      now += i % 7 === 0 ? 900 : 1;
      const scopes = i % 3 === 0 ? `chat:${i % 50}` : ['global', `chat:${i % 50}`];
      const expected = reference.decide(buildPlan({ scopes }, rules), now);
      expect(fast.decideDefault(scopes, rules, now)).toEqual(expected);
    }
    expect(fast.size).toBe(reference.size);
  });
});
