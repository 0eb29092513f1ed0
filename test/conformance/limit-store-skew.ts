/**
 * Clock skew, part of the LimitStore conformance suite: processes sharing a store whose clocks disagree.
 * The policy (src/engine/README.md): a lagging clock never moves a state backwards. Its decisions are made
 * against the newer state it finds, and its waits run on its own clock.
 */
import { describe, expect, it } from 'vitest';
import type { LimitStore } from '../../src/backends/types.js';
import type { AlgorithmName } from '../../src/core/types.js';
import { buildPlan, inspectPlan } from '../../src/engine/plan.js';
import { ScopeRules } from '../../src/engine/rules.js';

const ALGORITHMS: readonly AlgorithmName[] = [
  'sliding-window',
  'token-bucket',
  'fixed-window',
  'anchored-window',
];
/** Aligned to every window used here. */
const T0 = 1_700_000_040_000;
/** The process on time. */
const ON_TIME = T0 + 1500;
/** The lagging process: 1.4 windows (of 1 s) behind. */
const LAGGING = T0 + 100;

/**
 * The wait a lagging caller (at T0 + 100) is given for one more request once the on-time one (at T0 + 1500)
 * filled a 5/1000 ms rule, measured on the lagging clock:
 * - fixed window: the stored window [T0 + 1000, T0 + 2000) is newer than the caller's; it ends at T0 + 2000 → 1900;
 * - token bucket: TAT = T0 + 2500, one token back at T0 + 1700 → 1600;
 * - sliding window: sub-window [T0 + 1500, T0 + 1505) counts until T0 + 2505 → 2405;
 * - anchored window: opened at T0 + 1500 by the on-time charge, it ends at T0 + 2500 → 2400.
 */
const LAGGING_WAIT: Record<AlgorithmName, number> = {
  'fixed-window': 1900,
  'anchored-window': 2400,
  'token-bucket': 1600,
  'sliding-window': 2405,
};

export function describeClockSkew(getStore: () => LimitStore): void {
  describe.each(ALGORITHMS)('clock skew: %s', (algorithm) => {
    const rules = new ScopeRules({ a: { limit: 5, window: 1000, algorithm } });
    const plan = buildPlan({ scopes: 'a' }, rules);
    const used = async (now: number) =>
      (await getStore().inspect(inspectPlan(['a'], rules), now)).map((s) => s.used);

    it('a clock lagging by more than a window is refused by a newer full window and never resets it', async () => {
      const store = getStore();
      for (let i = 0; i < 5; i++) expect((await store.decide(plan, ON_TIME)).allowed).toBe(true);
      expect(await store.decide(plan, LAGGING)).toEqual({
        allowed: false,
        retryAfterMs: LAGGING_WAIT[algorithm],
        remaining: 0,
        limit: 5,
        blockedBy: { scope: 'a', rule: 'requests/1000ms', unit: 'requests' },
      });
      expect(await store.peek(plan, LAGGING)).toMatchObject({ allowed: false });
      expect(await used(LAGGING)).toEqual([5]);
      // The on-time process still sees its window full.
      expect(await used(ON_TIME)).toEqual([5]);
      expect((await store.decide(plan, ON_TIME)).allowed).toBe(false);
      // Sleeping the wait it was given (on its own clock) is enough.
      expect((await store.decide(plan, LAGGING + LAGGING_WAIT[algorithm])).allowed).toBe(true);
    });

    it('a lagging charge counts in the newer state it finds', async () => {
      const store = getStore();
      for (let i = 0; i < 2; i++) await store.decide(plan, ON_TIME);
      // A token bucket's TAT is a time: the lagging clock has seen less refill since it (one token per 200 ms,
      // the bucket is 1.9 s ahead of the lagging clock), so it waits until T0 + 1100 on its own clock.
      let at = LAGGING;
      if (algorithm === 'token-bucket') {
        expect(await store.decide(plan, at)).toMatchObject({ allowed: false, retryAfterMs: 1000 });
        at += 1000;
      }
      // (What remains, the bucket reports on the caller's clock: none yet at T0 + 1100.)
      const remaining = algorithm === 'token-bucket' ? 0 : 2;
      expect(await store.decide(plan, at)).toMatchObject({ allowed: true, remaining });
      expect(await used(ON_TIME)).toEqual([3]);
      if (algorithm !== 'token-bucket') {
        expect((await store.decideMany([plan, plan], at)).map((d) => d.allowed)).toEqual([true, true]);
        expect(await used(ON_TIME)).toEqual([5]);
        expect((await store.decide(plan, ON_TIME)).allowed).toBe(false);
      }
      // A lagging refund comes off the newer state too.
      const before = (await used(ON_TIME))[0]!;
      await store.adjust([{ ...plan.items[0]!, cost: -1 }], at);
      expect(await used(ON_TIME)).toEqual([before - 1]);
      expect((await store.decide(plan, ON_TIME)).allowed).toBe(true);
    });
  });
}
