import { describe, expect, it } from 'vitest';
import { MemoryLimitStore } from '../../src/backends/memory/limit-store.js';
import type { Rule } from '../../src/core/types.js';
import { buildPlan } from '../../src/engine/plan.js';
import { ScopeRules } from '../../src/engine/rules.js';

const T = 1_700_000_000_000;

/** A plan used again and again, as the limiter's plan cache does: its items remember the store's entries. */
function setup(rule: Rule = { limit: 3, window: '1s' }) {
  const rules = new ScopeRules({ '*': rule });
  return { plan: buildPlan({ scopes: ['a', 'b'] }, rules), store: new MemoryLimitStore() };
}

describe('MemoryLimitStore entries remembered by plan items', () => {
  it('forgets them when a scope or everything is reset', () => {
    const { plan, store } = setup();
    for (let i = 0; i < 3; i++) expect(store.decide(plan, T).allowed).toBe(true);
    expect(store.decide(plan, T).allowed).toBe(false);
    store.reset('a');
    expect(store.decide(plan, T).allowed).toBe(false); // b is still full
    store.reset('b');
    expect(store.decide(plan, T).allowed).toBe(true);
    store.reset();
    for (let i = 0; i < 3; i++) expect(store.decide(plan, T).allowed).toBe(true);
    expect(store.decide(plan, T).allowed).toBe(false);
    expect(store.inspect(plan, T).map((s) => s.used)).toEqual([3, 3]);
  });

  it('forgets them when idle entries are swept, and starts the state over', () => {
    const { plan, store } = setup({ limit: 3, window: 1000, algorithm: 'fixed-window' });
    store.decide(plan, T);
    expect(store.size).toBe(2);
    // Sweeps run every 1024 operations; a later window makes both entries idle.
    const other = buildPlan({ scopes: 'c' }, new ScopeRules({ c: { limit: 1e9, window: '1h' } }));
    for (let i = 0; i < 2048; i++) store.decide(other, T + 5000);
    expect(store.size).toBe(1);
    expect(store.decide(plan, T + 5000).allowed).toBe(true);
    expect(store.inspect(plan, T + 5000).map((s) => s.used)).toEqual([1, 1]);
    expect(store.size).toBe(3);
  });

  it('keeps each store to its own entries when one plan is decided by two stores', () => {
    const { plan, store } = setup();
    const second = new MemoryLimitStore();
    for (let i = 0; i < 3; i++) store.decide(plan, T);
    expect(store.decide(plan, T).allowed).toBe(false);
    expect(second.decide(plan, T).allowed).toBe(true);
    expect(store.decide(plan, T).allowed).toBe(false);
    expect(second.inspect(plan, T).map((s) => s.used)).toEqual([1, 1]);
  });

  it('sees adjustments made through other items with the same keys', () => {
    const { plan, store } = setup();
    for (let i = 0; i < 3; i++) store.decide(plan, T);
    store.adjust(
      plan.items.map((item) => ({ scope: item.scope, key: item.key, rule: item.rule, cost: -2 })),
      T,
    );
    expect(store.decide(plan, T).allowed).toBe(true);
    expect(store.inspect(plan, T).map((s) => s.used)).toEqual([2, 2]);
  });
});

describe('MemoryLimitStore scopes with several rules', () => {
  it('carries every rule state of a scope over when all its rules are redefined at once', () => {
    const rules = new ScopeRules({
      m: [
        { limit: 10, window: '1m', name: 'a' },
        { limit: 10, window: '1m', name: 'b' },
        { limit: 10, window: '1m', name: 'c' },
      ],
    });
    const store = new MemoryLimitStore();
    for (let i = 0; i < 4; i++) store.decide(buildPlan({ scopes: 'm' }, rules), T);
    rules.define('m', [
      { limit: 5, window: '1m', name: 'a' },
      { limit: 5, window: '1m', name: 'b' },
      { limit: 5, window: '1m', name: 'c' },
    ]);
    // One decision under the new rules migrates the three states; none is lost.
    expect(store.decide(buildPlan({ scopes: 'm' }, rules), T).allowed).toBe(true);
    const plan = buildPlan({ scopes: 'm' }, rules);
    expect(store.inspect(plan, T).map((s) => s.used)).toEqual([5, 5, 5]);
    expect(store.size).toBe(3);
    expect(store.decide(plan, T).allowed).toBe(false);
  });

  it('keeps one lookup per scope apart from another scope of the same plan', () => {
    const rules = new ScopeRules({
      '*': [
        { limit: 3, window: '1m', name: 'a' },
        { limit: 9, window: '1m', name: 'b' },
      ],
    });
    const store = new MemoryLimitStore();
    for (let i = 0; i < 2; i++) store.decide(buildPlan({ scopes: ['x', 'y'] }, rules), T);
    store.decide(buildPlan({ scopes: 'y' }, rules), T);
    expect(store.inspect(buildPlan({ scopes: ['x', 'y'] }, rules), T).map((s) => s.used)).toEqual([
      2, 2, 3, 3,
    ]);
    expect(store.decide(buildPlan({ scopes: ['x', 'y'] }, rules), T).allowed).toBe(false);
    store.reset('y');
    expect(store.size).toBe(2);
    expect(store.decide(buildPlan({ scopes: ['x', 'y'] }, rules), T).allowed).toBe(true);
  });
});
