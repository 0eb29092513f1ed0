import { describe, expect, it } from 'vitest';
import { windowStart } from '../../src/algorithms/fixed-window.js';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import type { Rule } from '../../src/core/types.js';
import { inspectPlan, normalizeScopes, type Plan } from '../../src/engine/plan.js';
import { ScopeRules } from '../../src/engine/rules.js';
import { PlanCache } from '../../src/limiter/plan-cache.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

const START = 1_700_000_040_000;

function setup(scopes: Record<string, Rule | Rule[]>) {
  return new RateLimiter({ scopes, clock: new FakeClock(START), backend: new MemoryBackend() });
}

async function used(limiter: RateLimiter, scope: string): Promise<number> {
  return (await limiter.stats(scope)).reduce((sum, s) => sum + s.used, 0);
}

describe('RateLimiter plan cache', () => {
  it('follows rules changed through limiter.rules as well as define()', async () => {
    const limiter = setup({ a: { limit: 5, window: '1s' } });
    expect((await limiter.peek({ scopes: 'a' })).limit).toBe(5);
    expect((await limiter.peek({ scopes: ['a', 'b'] })).limit).toBe(5);
    limiter.rules.define('a', { limit: 2, window: '1s' });
    expect((await limiter.peek({ scopes: 'a' })).limit).toBe(2);
    limiter.define('b', { limit: 1, window: '1s' });
    expect(await limiter.peek({ scopes: ['a', 'b'] })).toMatchObject({ allowed: true, limit: 1 });
    limiter.rules.remove('b');
    expect(await limiter.peek({ scopes: ['a', 'b'] })).toMatchObject({ allowed: true, limit: 2 });
  });

  it('keeps its own copy of a scope list the caller changes afterwards', async () => {
    const limiter = setup({ a: { limit: 10, window: '1s' }, b: { limit: 10, window: '1s' } });
    const scopes = ['a', 'b'];
    await limiter.tryAcquire({ scopes });
    scopes[1] = 'c';
    await limiter.tryAcquire({ scopes: ['a', 'b'] });
    expect(await used(limiter, 'a')).toBe(2);
    expect(await used(limiter, 'b')).toBe(2);
  });

  it('never confuses a scope containing NUL with a list of scopes', async () => {
    const limiter = setup({ '*': { limit: 10, window: '1s' } });
    await limiter.tryAcquire({ scopes: ['x', 'y'] });
    await limiter.tryAcquire({ scopes: ['x\u0000y'] });
    await limiter.tryAcquire({ scopes: ['x\u0000y', 'z'] });
    expect(await used(limiter, 'x')).toBe(1);
    expect(await used(limiter, 'y')).toBe(1);
    expect(await used(limiter, 'x\u0000y')).toBe(2);
    expect(await used(limiter, 'z')).toBe(1);
  });

  it('keeps deciding right past a full cache of scope lists (it starts over)', async () => {
    const limiter = setup({ '*': { limit: 1e6, window: '1s' }, 'c*': { limit: 3, window: '1s' } });
    for (let i = 0; i < 10_050; i++) await limiter.tryAcquire({ scopes: ['g', `c${i}`, 'x'] });
    await limiter.tryAcquire({ scopes: ['g', 'c0', 'x'] });
    await limiter.tryAcquire({ scopes: ['g', 'c0'] });
    expect(await used(limiter, 'c0')).toBe(3);
    expect(await used(limiter, 'c10049')).toBe(1);
    expect((await limiter.peek({ scopes: ['g', 'c0', 'x'] })).allowed).toBe(false);
  });

  it('decides exactly past its 65,536 kept scopes, while lookups are skipped, and after it starts over', () => {
    const limiter = setup({ '*': { limit: 1e9, window: '1h' }, 'hot*': { limit: 2e6, window: '1h' } });
    const keys = 150_000;
    // 1.2M plans made outside the full cache: it is bypassed while it misses, and starts over at 1,048,576.
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < keys; i++) {
        limiter.tryAcquireSync({ scopes: `k${i}` });
        if ((i & 7) === 0) limiter.tryAcquireSync({ scopes: 'hot' });
      }
    }
    const used = (scope: string) => limiter.tryAcquireSync({ scopes: scope });
    expect(used('k0')).toMatchObject({ allowed: true, remaining: 1e9 - 9 });
    expect(used('k149999')).toMatchObject({ allowed: true, remaining: 1e9 - 9 });
    expect(used('k70000')).toMatchObject({ allowed: true, remaining: 1e9 - 9 });
    expect(used('hot')).toMatchObject({ allowed: true, remaining: 2e6 - 8 * (keys / 8) - 1 });
  });

  it('charges a scope named twice once, and a single-element list like the scope itself', async () => {
    const limiter = setup({ a: { limit: 10, window: '1s' } });
    await limiter.tryAcquire({ scopes: ['a', 'a'] });
    await limiter.tryAcquire({ scopes: ['a'] });
    await limiter.tryAcquire({ scopes: 'a' });
    expect(await used(limiter, 'a')).toBe(3);
  });

  it('applies and validates costs on cached scopes', async () => {
    const limiter = setup({
      m: [
        { limit: 10, window: '1m' },
        { limit: 1000, window: '1m', unit: 'tokens' },
      ],
    });
    await limiter.tryAcquire({ scopes: 'm' });
    await limiter.tryAcquire({ scopes: 'm', cost: { requests: 1, tokens: 300 } });
    await limiter.tryAcquire({ scopes: 'm', cost: { tokens: 200 } });
    const stats = await limiter.stats('m');
    expect(stats.map((s) => s.used)).toEqual([2, 500]);
    await expect(limiter.tryAcquire({ scopes: 'm', cost: -1 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(
      limiter.tryAcquire({ scopes: ['m', 'n'], cost: { tokens: Number.NaN } }),
    ).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(limiter.tryAcquire({ scopes: ['m', ''] })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(limiter.tryAcquire({ scopes: [] })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('windowStart', () => {
  it('equals now - (now % window) for integer, fractional and negative times', () => {
    const windows = [1, 3, 7, 1000, 60_000, 86_400_000, 0.5, 250.75, 1e-3];
    const times = [0, 1, 999, 1000, START, START + 0.25, -5, -1000.5, 2 ** 53 - 1, 2 ** 53, 2 ** 60, 1e21];
    for (const w of windows) {
      for (const t of times) expect(Object.is(windowStart(t, w), t - (t % w))).toBe(true);
    }
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 20_000; i++) {
      const w = 1 + Math.floor(random() * 1e7);
      const t = Math.floor(random() * 2 ** 52);
      expect(windowStart(t, w)).toBe(t - (t % w));
    }
  });
});

describe('PlanCache.template', () => {
  it('is what inspectPlan builds, for exact, pattern and unmatched scopes, before and after rules change', () => {
    const rules = new ScopeRules({
      global: [
        { limit: 30, window: '1s' },
        { limit: 1000, window: '1m', unit: 'tokens' },
      ],
      'chat:*': { limit: 1, window: '1s' },
      'glob*': { limit: 2, window: '1s' },
    });
    const cache = new PlanCache(rules);
    const shape = (plan: Plan | undefined) =>
      plan && { scopes: [...plan.scopes], items: plan.items.map((i) => [i.scope, i.key, i.rule, i.cost]) };
    const same = (scopes: string | string[]) =>
      expect(shape(cache.template(scopes))).toEqual(
        shape(inspectPlan(normalizeScopes(typeof scopes === 'string' ? [scopes] : scopes), rules)),
      );
    const inputs: Array<string | string[]> = [
      'global',
      'chat:1',
      'globalx',
      'nothing',
      ['global', 'chat:1', 'global'],
      ['chat:1', 'chat:1'],
      ['glob', 'chat:2'],
    ];
    for (const scopes of inputs) same(scopes);
    rules.define('global', { limit: 5, window: '1s' });
    rules.define('chat:1', { limit: 9, window: '1s' });
    rules.remove('glob*');
    for (const scopes of inputs) same(scopes);
    expect(cache.template('')).toBeUndefined();
    expect(cache.template([])).toBeUndefined();
    expect(cache.template(['a', ''])).toBeUndefined();
  });
});
