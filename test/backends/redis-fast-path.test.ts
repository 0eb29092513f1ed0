/**
 * limit-decide's one-rule fast path (limits/fast.lua: batches whose every request is one scope under one
 * rule, nothing blocked) against its general path (limits/decide.lua) and the pure algorithms: the same
 * random batches go to two namespaces, one as they are (the fast path), one with a rule-less request added
 * at the end (which sends the whole batch down the general path), and to the reference store.
 */
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import type { AlgorithmName, Rule } from '../../src/core/types.js';
import { buildPlan, type Plan } from '../../src/engine/plan.js';
import { ScopeRules } from '../../src/engine/rules.js';
import { ReferenceLimitStore } from '../conformance/reference-store.js';
import { deletePrefixes, REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';

const skip = await skipRedis('Redis fast-path differential test');

const ruleArb: fc.Arbitrary<Rule> = fc.record({
  algorithm: fc.constantFrom<AlgorithmName>('sliding-window', 'token-bucket', 'fixed-window'),
  limit: fc.integer({ min: 1, max: 12 }),
  window: fc.constantFrom(7, 100, 700, 999, 1000, 60_000),
});
const batchArb = fc.record({
  // Mostly forward; sometimes a lagging clock (less than the idle grace behind).
  dt: fc.oneof(
    fc.integer({ min: 0, max: 400 }),
    fc.double({ min: 0, max: 400, noNaN: true }),
    fc.integer({ min: -900, max: -1 }),
  ),
  requests: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 8 }),
  cost: fc.oneof(fc.constantFrom(1, 1, 2, 3), fc.constantFrom(0.5, 2.25), fc.integer({ min: 13, max: 20 })),
});

describe.skipIf(skip)('Redis limit-decide: the one-rule fast path decides like the general path', () => {
  const prefixes: string[] = [];
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
  });

  it('on random rules, costs and times', async () => {
    const fast = new RedisBackend({ url: REDIS_URL, prefix: uniquePrefix('fast'), fallback: false });
    const general = new RedisBackend({ url: REDIS_URL, prefix: uniquePrefix('general'), fallback: false });
    prefixes.push(fast.prefix, general.prefix);
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          ruleArb,
          fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
          fc.array(batchArb, { minLength: 1, maxLength: 25 }),
          async (rule, start, batches) => {
            const names = [0, 1, 2, 3].map((i) => `r${run}:s${i}`);
            run++;
            const rules = new ScopeRules(Object.fromEntries(names.map((n) => [n, rule])));
            // A scope without rules: a request with no item, so the batch is no longer "one rule each".
            const detour: Plan = buildPlan({ scopes: `r${run}:free` }, rules);
            const reference = new ReferenceLimitStore();
            let now = start;
            let newest = start;
            for (const batch of batches) {
              now = Math.max(now + batch.dt, newest - 900);
              newest = Math.max(newest, now);
              const plans = batch.requests.map((i) =>
                buildPlan({ scopes: names[i]!, cost: batch.cost }, rules),
              );
              const expected = reference.decideMany(plans, now);
              const viaFast = await fast.limits.decideMany(plans, now);
              const viaGeneral = await general.limits.decideMany([...plans, detour], now);
              expect(viaFast, `at ${now}`).toEqual(expected);
              expect(viaGeneral.slice(0, plans.length), `at ${now}`).toEqual(expected);
            }
          },
        ),
        { numRuns: 60, seed: 20_261_201 },
      );
    } finally {
      await fast.close();
      await general.close();
    }
  });
});
