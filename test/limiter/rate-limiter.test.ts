import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import {
  AbortError,
  CostExceedsCapacityError,
  isRateKeeperError,
  TimeoutError,
} from '../../src/core/errors.js';
import type { AlgorithmName, Rule } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { track } from './helpers.js';

const START = 1_700_000_040_000; // aligned to 1s, 10s and 1m windows

function setup(scopes: Record<string, Rule | Rule[]>, start = START) {
  const clock = new FakeClock(start);
  const limiter = new RateLimiter({ scopes, clock, backend: new MemoryBackend() });
  return { clock, limiter };
}

async function used(limiter: RateLimiter, scope: string): Promise<number[]> {
  return (await limiter.stats(scope)).map((s) => s.used);
}

describe('RateLimiter.acquire', () => {
  it('resolves at once when the request fits', async () => {
    const { limiter, clock } = setup({ a: { limit: 2, window: '1s' } });
    const decision = await limiter.acquire({ scopes: 'a' });
    expect(decision).toMatchObject({ allowed: true, remaining: 1, limit: 2 });
    expect(clock.pending).toBe(0);
  });

  it.each<[AlgorithmName, number]>([
    ['sliding-window', 1005],
    ['token-bucket', 500],
    ['fixed-window', 1000],
  ])('%s: wakes at exactly the computed time, not earlier, not later', async (algorithm, expected) => {
    const { limiter, clock } = setup({ a: { limit: 2, window: '1s', algorithm } });
    await limiter.acquire({ scopes: 'a' });
    await limiter.acquire({ scopes: 'a' });
    const refused = await limiter.peek({ scopes: 'a' });
    expect(refused.retryAfterMs).toBe(expected);
    const waiting = track(limiter.acquire({ scopes: 'a' }), clock);
    await settle();
    // One sleeper, for the computed time: no polling.
    expect(clock.pending).toBe(1);
    await clock.advance(expected - 0.001);
    expect(waiting.settled).toBe(false);
    await clock.advance(0.001);
    expect(waiting.settled).toBe(true);
    expect(waiting.at).toBe(START + expected);
    expect(waiting.value).toMatchObject({ allowed: true });
    // The first two expired (window ones) or one token came back (bucket).
    expect(await used(limiter, 'a')).toEqual([algorithm === 'token-bucket' ? 2 : 1]);
  });

  it('wakes exactly at fractional times too', async () => {
    const start = START + 0.37;
    const { limiter, clock } = setup({ a: { limit: 3, window: 1000, algorithm: 'token-bucket' } }, start);
    for (let i = 0; i < 3; i++) await limiter.acquire({ scopes: 'a' });
    const times: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = (await limiter.peek({ scopes: 'a' })).retryAfterMs;
      const p = track(limiter.acquire({ scopes: 'a' }), clock);
      await clock.next();
      expect(p.settled).toBe(true);
      expect(p.at - clock.now()).toBe(0);
      times.push(p.at);
      expect(p.at).toBe(start + (times.length === 1 ? 0 : times.at(-2)! - start) + before);
    }
    // One token per 1000/3 ms.
    expect(times.at(-1)! - start).toBeCloseTo(2000, 2);
  });

  it('serves waiters of the same scopes first come, first served', async () => {
    const { limiter, clock } = setup({ a: { limit: 1, window: '1s', algorithm: 'fixed-window' } });
    await limiter.acquire({ scopes: 'a' });
    const order: string[] = [];
    const waiters = ['b', 'c', 'd'].map((name) => {
      const t = track(
        limiter.acquire({ scopes: 'a' }).then((d) => {
          order.push(name);
          return d;
        }),
        clock,
      );
      return t;
    });
    await clock.advance(3000);
    expect(order).toEqual(['b', 'c', 'd']);
    expect(waiters.map((w) => w.at - START)).toEqual([1000, 2000, 3000]);
  });

  it('a newcomer that would fit does not overtake an earlier waiter', async () => {
    const { limiter, clock } = setup({ a: { limit: 5, window: '1s', algorithm: 'fixed-window' } });
    await limiter.tryAcquire({ scopes: 'a', cost: 3 });
    const big = track(limiter.acquire({ scopes: 'a', cost: 5 }), clock);
    await clock.advance(10);
    const small = track(limiter.acquire({ scopes: 'a', cost: 1 }), clock);
    await clock.advance(989);
    expect(big.settled).toBe(false);
    expect(small.settled).toBe(false);
    await clock.advance(1);
    expect(big.at - START).toBe(1000);
    expect(small.settled).toBe(false);
    await clock.advance(1000);
    expect(small.at - START).toBe(2000);
  });

  it('FIFO holds for requests made in the same tick (the first is refused, the second would fit)', async () => {
    const { limiter, clock } = setup({ a: { limit: 5, window: '1s', algorithm: 'fixed-window' } });
    await limiter.tryAcquire({ scopes: 'a', cost: 3 });
    const order: string[] = [];
    const first = limiter.acquire({ scopes: 'a', cost: 5 }).then(() => order.push('first'));
    const second = limiter.acquire({ scopes: 'a', cost: 1 }).then(() => order.push('second'));
    await clock.advance(999);
    expect(order).toEqual([]);
    await clock.advance(1);
    expect(order).toEqual(['first']);
    // The window [1000, 2000) is full with the first's 5.
    await clock.advance(1_000);
    await Promise.all([first, second]);
    expect(order).toEqual(['first', 'second']);
  });

  it('waiters on other scopes are not held up', async () => {
    const { limiter, clock } = setup({ 'chat:*': { limit: 1, window: '1s' } });
    await limiter.acquire({ scopes: 'chat:1' });
    const waiting = track(limiter.acquire({ scopes: 'chat:1' }), clock);
    const other = await limiter.acquire({ scopes: 'chat:2' });
    expect(other.allowed).toBe(true);
    expect(waiting.settled).toBe(false);
    await clock.advance(1005);
    expect(waiting.settled).toBe(true);
  });

  it('abort rejects with AbortError, charges nothing, and lets the next waiter in', async () => {
    const { limiter, clock } = setup({ a: { limit: 5, window: '1s', algorithm: 'fixed-window' } });
    await limiter.tryAcquire({ scopes: 'a', cost: 3 });
    const controller = new AbortController();
    const head = track(limiter.acquire({ scopes: 'a', cost: 5 }, { signal: controller.signal }), clock);
    const next = track(limiter.acquire({ scopes: 'a', cost: 2 }), clock);
    await clock.advance(400);
    expect(next.settled).toBe(false);
    controller.abort();
    await settle();
    expect(head.error).toBeInstanceOf(AbortError);
    expect(isRateKeeperError(head.error, 'ERR_ABORTED')).toBe(true);
    expect(head.at - START).toBe(400);
    // The next waiter fits now (3 + 2 ≤ 5) and goes at once.
    await clock.advance(0);
    expect(next.settled).toBe(true);
    expect(next.at - START).toBe(400);
    expect(await used(limiter, 'a')).toEqual([5]);
  });

  it('an already aborted signal rejects at once without charging', async () => {
    const { limiter } = setup({ a: { limit: 5, window: '1s' } });
    const controller = new AbortController();
    controller.abort(new Error('user left'));
    const error = await limiter.acquire({ scopes: 'a' }, { signal: controller.signal }).catch((e) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(error.message).toContain('user left');
    expect(await used(limiter, 'a')).toEqual([0]);
  });

  it('timeout rejects with TimeoutError at exactly the timeout and charges nothing', async () => {
    const { limiter, clock } = setup({ a: { limit: 1, window: '1m', algorithm: 'fixed-window' } });
    await limiter.acquire({ scopes: 'a' });
    const waiting = track(limiter.acquire({ scopes: 'a' }, { timeout: '250ms' }), clock);
    const after = track(limiter.acquire({ scopes: 'a' }, { timeout: 61_000 }), clock);
    await clock.advance(249.9);
    expect(waiting.settled).toBe(false);
    await clock.advance(0.1);
    expect(waiting.error).toBeInstanceOf(TimeoutError);
    expect(waiting.error).toMatchObject({ code: 'ERR_TIMEOUT', timeoutMs: 250 });
    expect(waiting.at - START).toBe(250);
    expect(await used(limiter, 'a')).toEqual([1]);
    // The next waiter is served at the window's end, within its own timeout.
    await clock.advance(60_000);
    expect(after.error).toBeUndefined();
    expect(after.at - START).toBe(60_000);
    expect(clock.pending).toBe(0);
  });

  it('a timeout that is not reached leaves no timer and no late rejection', async () => {
    const { limiter, clock } = setup({ a: { limit: 1, window: '1s', algorithm: 'fixed-window' } });
    await limiter.acquire({ scopes: 'a' });
    const waiting = track(limiter.acquire({ scopes: 'a' }, { timeout: '5s' }), clock);
    await clock.advance(1000);
    expect(waiting.value).toMatchObject({ allowed: true });
    expect(clock.pending).toBe(0);
    await clock.advance(10_000);
    expect(waiting.error).toBeUndefined();
  });

  it('a cost above capacity rejects at once with CostExceedsCapacityError, never hangs', async () => {
    const { limiter, clock } = setup({
      a: [
        { limit: 5, window: '1s' },
        { limit: 100, window: '1m', unit: 'tokens', algorithm: 'token-bucket', burst: 150 },
      ],
    });
    const error = await limiter.acquire({ scopes: 'a', cost: 6 }).catch((e) => e);
    expect(error).toBeInstanceOf(CostExceedsCapacityError);
    expect(error).toMatchObject({ code: 'ERR_COST_EXCEEDS_CAPACITY', scope: 'a', rule: 'requests/1000ms' });
    const tokens = await limiter.acquire({ scopes: 'a', cost: { requests: 1, tokens: 151 } }).catch((e) => e);
    expect(tokens).toMatchObject({ code: 'ERR_COST_EXCEEDS_CAPACITY', rule: 'tokens/60000ms' });
    expect(await used(limiter, 'a')).toEqual([0, 0]);
    // Also while other waiters of the same scopes are queued.
    for (let i = 0; i < 5; i++) await limiter.acquire({ scopes: 'a' });
    const queued = track(limiter.acquire({ scopes: 'a' }), clock);
    const tooBig = track(limiter.acquire({ scopes: 'a', cost: 6 }), clock);
    await settle();
    expect(tooBig.error).toBeInstanceOf(CostExceedsCapacityError);
    expect(tooBig.at - START).toBe(0);
    expect(queued.settled).toBe(false);
    await clock.advance(1005);
    expect(queued.value).toMatchObject({ allowed: true });
  });
});

describe('RateLimiter feedback and administration', () => {
  it('block refuses the scope until its end and acquire waits exactly that long', async () => {
    const { limiter, clock } = setup({ a: { limit: 10, window: '1s' }, b: { limit: 10, window: '1s' } });
    await limiter.block('a', '1.5s');
    expect(await limiter.tryAcquire({ scopes: ['b', 'a'] })).toMatchObject({
      allowed: false,
      retryAfterMs: 1500,
      blockedBy: { scope: 'a', rule: 'block' },
    });
    expect(await used(limiter, 'b')).toEqual([0]);
    await limiter.block('a', 500); // shorter: no effect
    const waiting = track(limiter.acquire({ scopes: ['a', 'b'] }), clock);
    await clock.advance(1499);
    expect(waiting.settled).toBe(false);
    await clock.advance(1);
    expect(waiting.at - START).toBe(1500);
    expect((await limiter.stats('a'))[0]).toMatchObject({ used: 1, blockedMs: 0 });
  });

  it('a block placed while a waiter sleeps delays it to the block end', async () => {
    const { limiter, clock } = setup({ a: { limit: 1, window: '1s', algorithm: 'fixed-window' } });
    await limiter.acquire({ scopes: 'a' });
    const waiting = track(limiter.acquire({ scopes: 'a' }), clock);
    await clock.advance(100);
    await limiter.block('a', '3s');
    await clock.advance(2999);
    expect(waiting.settled).toBe(false);
    await clock.advance(1);
    expect(waiting.at - START).toBe(3100);
  });

  it('adjust refunds wake waiters at once, and overcharges delay admission', async () => {
    const { limiter, clock } = setup({ a: { limit: 5, window: '1s' } });
    await limiter.tryAcquire({ scopes: 'a', cost: 5 });
    const waiting = track(limiter.acquire({ scopes: 'a', cost: 2 }), clock);
    await clock.advance(100);
    expect(waiting.settled).toBe(false);
    await limiter.adjust({ scopes: 'a', delta: -3 });
    await settle();
    expect(waiting.settled).toBe(true);
    expect(waiting.at - START).toBe(100);
    expect(await used(limiter, 'a')).toEqual([4]);
    await limiter.adjust({ scopes: 'a', delta: { requests: 10 } });
    expect(await used(limiter, 'a')).toEqual([5]);
    const refused = await limiter.tryAcquire({ scopes: 'a' });
    expect(refused.allowed).toBe(false);
    // All 14 units sit in sub-windows counted until ~1.1s: nothing fits before then.
    expect(refused.retryAfterMs).toBe(1005);
  });

  it('adjust touches only the rules of the units it names', async () => {
    const { limiter } = setup({
      m: [
        { limit: 10, window: '1m' },
        { limit: 1000, window: '1m', unit: 'tokens' },
      ],
    });
    await limiter.tryAcquire({ scopes: 'm', cost: { requests: 1, tokens: 900 } });
    await limiter.adjust({ scopes: 'm', delta: { tokens: -400 } });
    expect(await used(limiter, 'm')).toEqual([1, 500]);
    await limiter.adjust({ scopes: 'm', delta: { other: 5 } });
    expect(await used(limiter, 'm')).toEqual([1, 500]);
  });

  it('stats reports each rule of a scope', async () => {
    const { limiter } = setup({
      m: [
        { limit: 10, window: '1m' },
        { limit: 1000, window: '1m', unit: 'tokens', algorithm: 'fixed-window' },
      ],
    });
    await limiter.tryAcquire({ scopes: 'm', cost: { requests: 1, tokens: 300 } });
    const stats = await limiter.stats('m');
    expect(stats).toHaveLength(2);
    expect(stats[0]).toMatchObject({
      scope: 'm',
      rule: 'requests/60000ms',
      used: 1,
      remaining: 9,
      limit: 10,
    });
    expect(stats[1]).toMatchObject({
      rule: 'tokens/60000ms',
      unit: 'tokens',
      algorithm: 'fixed-window',
      used: 300,
      remaining: 700,
      resetMs: 60_000,
    });
    expect(await limiter.stats('nothing-defined')).toEqual([]);
  });

  it('reset(scope) forgets one scope and wakes its waiters; reset() forgets all', async () => {
    const { limiter, clock } = setup({ '*': { limit: 1, window: '1m' } });
    await limiter.acquire({ scopes: 'a' });
    await limiter.acquire({ scopes: 'b' });
    const waiting = track(limiter.acquire({ scopes: 'a' }), clock);
    await clock.advance(10);
    await limiter.reset('a');
    await settle();
    expect(waiting.at - START).toBe(10);
    expect((await limiter.tryAcquire({ scopes: 'b' })).allowed).toBe(false);
    await limiter.block('c', '1h');
    await limiter.reset();
    expect((await limiter.tryAcquire({ scopes: 'b' })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ scopes: 'c' })).allowed).toBe(true);
  });

  it('define adds or replaces rules at run time, keeping usage per rule name', async () => {
    const { limiter } = setup({});
    for (let i = 0; i < 5; i++) expect((await limiter.tryAcquire({ scopes: 'x' })).allowed).toBe(true);
    limiter.define('x', { limit: 2, window: '1m' });
    expect((await limiter.tryAcquire({ scopes: 'x' })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ scopes: 'x' })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ scopes: 'x' })).allowed).toBe(false);
    // A larger limit under the same rule name keeps the 2 used.
    limiter.define('x', { limit: 3, window: '1m' });
    expect(await limiter.tryAcquire({ scopes: 'x' })).toMatchObject({ allowed: true, remaining: 0 });
    // A prefix pattern applies to new scopes; the exact pattern still wins for x.
    limiter.define('*', { limit: 1, window: '1m' });
    expect((await limiter.tryAcquire({ scopes: 'y' })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ scopes: 'y' })).allowed).toBe(false);
    expect((await limiter.stats('x'))[0]).toMatchObject({ limit: 3, used: 3 });
  });

  it('decides multi-scope requests atomically', async () => {
    const { limiter } = setup({ global: { limit: 3, window: '1s' }, 'chat:*': { limit: 1, window: '1s' } });
    expect((await limiter.tryAcquire({ scopes: ['global', 'chat:1'] })).allowed).toBe(true);
    expect(await limiter.tryAcquire({ scopes: ['global', 'chat:1'] })).toMatchObject({
      allowed: false,
      blockedBy: { scope: 'chat:1' },
    });
    expect(await used(limiter, 'global')).toEqual([1]);
    expect((await limiter.tryAcquire({ scopes: ['global', 'chat:2'] })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ scopes: ['global', 'chat:3'] })).allowed).toBe(true);
    expect(await limiter.tryAcquire({ scopes: ['global', 'chat:4'] })).toMatchObject({
      allowed: false,
      blockedBy: { scope: 'global' },
    });
    expect(await used(limiter, 'chat:4')).toEqual([0]);
    // A scope named twice is charged once (else cost 2 > capacity 1 here).
    expect((await limiter.tryAcquire({ scopes: ['chat:5', 'chat:5'] })).allowed).toBe(true);
    expect(await used(limiter, 'chat:5')).toEqual([1]);
  });

  it('tryAcquireSync answers synchronously on memory', () => {
    const { limiter } = setup({ a: { limit: 1, window: '1s' } });
    expect(limiter.tryAcquireSync({ scopes: 'a' }).allowed).toBe(true);
    expect(limiter.tryAcquireSync({ scopes: 'a' })).toMatchObject({ allowed: false, retryAfterMs: 1005 });
  });

  it('per-scope costs charge each scope its share', async () => {
    const { limiter } = setup({ global: { limit: 10, window: '1s' }, 'chat:*': { limit: 2, window: '1s' } });
    const d = await limiter.tryAcquire({
      scopes: ['global', 'chat:1', 'chat:2'],
      cost: 3,
      costs: { 'chat:1': 2, 'chat:2': 1 },
    });
    expect(d.allowed).toBe(true);
    expect(await used(limiter, 'global')).toEqual([3]);
    expect(await used(limiter, 'chat:1')).toEqual([2]);
    expect(await used(limiter, 'chat:2')).toEqual([1]);
  });
});
