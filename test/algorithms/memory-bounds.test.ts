import { describe, expect, it } from 'vitest';
import { MemoryLimitStore } from '../../src/backends/memory/limit-store.js';
import type { CompiledRule } from '../../src/core/types.js';
import type { Plan } from '../../src/engine/plan.js';
import { rule } from './helpers.js';

function planFor(scope: string, r: CompiledRule): Plan {
  return { scopes: [scope], items: [{ scope, key: `${scope}|${r.name}`, rule: r, cost: 1 }] };
}

describe('MemoryLimitStore memory', () => {
  it('stays bounded with a million distinct keys, each used once', () => {
    const r = rule({ limit: 5, window: 1000 });
    const store = new MemoryLimitStore();
    let now = 1_700_000_000_000;
    let max = 0;
    for (let i = 0; i < 1_000_000; i++) {
      now += 1;
      store.decide(planFor(`k${i}`, r), now);
      if ((i & 4095) === 0) max = Math.max(max, store.size);
    }
    // About 1,005 keys are live at any moment (a key is idle 1,005 ms after its use).
    expect(max).toBeLessThan(10_000);
    expect(store.size).toBeLessThan(10_000);
  });

  it('shrinks back after keys go idle', () => {
    const r = rule({ limit: 5, window: 1000, algorithm: 'token-bucket' });
    const fixed = rule({ limit: 5, window: 1000, algorithm: 'fixed-window' });
    const store = new MemoryLimitStore();
    const now = 1_700_000_000_000;
    for (let i = 0; i < 100_000; i++) store.decide(planFor(`burst${i}`, i % 2 ? r : fixed), now);
    expect(store.size).toBeGreaterThanOrEqual(90_000);
    // Later, only one key is used: the idle ones are swept as operations run.
    const hot = planFor('hot', r);
    for (let i = 0; i < 500_000; i++) store.decide(hot, now + 10_000 + i);
    expect(store.size).toBeLessThan(100);
  });

  it('keeps entries that are still in use', () => {
    const r = rule({ limit: 3, window: 60_000 });
    const store = new MemoryLimitStore();
    const now = 1_700_000_000_000;
    const keep = planFor('keep', r);
    store.decide(keep, now);
    store.decide(keep, now);
    store.decide(keep, now);
    for (let i = 0; i < 50_000; i++)
      store.decide(planFor(`short${i}`, rule({ limit: 1, window: 10 })), now + i);
    // Still within its minute: refused.
    expect(store.peek(keep, now + 50_000).allowed).toBe(false);
  });
});
