import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import type { Backend, LimitStore } from '../../src/backends/types.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { track } from './helpers.js';

const START = 1_700_000_040_000;

function setup(backend: Backend = new MemoryBackend()) {
  const clock = new FakeClock(START);
  const limiter = new RateLimiter({ scopes: { a: { limit: 2, window: '1s' } }, clock, backend });
  return { clock, limiter };
}

/** The memory backend answering through promises, as Redis does. */
function asyncBackend(): Backend {
  const memory = new MemoryBackend();
  const store = memory.limits;
  const limits = new Proxy(store, {
    get(target, name) {
      if (name === 'sync') return false;
      if (name === 'decideDefault' || name === 'groupCommit') return undefined;
      const value = Reflect.get(target, name, target) as unknown;
      return typeof value === 'function'
        ? (...args: unknown[]) => Promise.resolve((value as (...a: unknown[]) => unknown).apply(target, args))
        : value;
    },
  }) as LimitStore;
  return Object.assign(Object.create(memory) as Backend, { limits });
}

describe('RateLimiter.acquireNow', () => {
  it('admits and charges a request that fits when nobody waits', async () => {
    const { limiter } = setup();
    expect(limiter.acquireNow({ scopes: 'a' })).toMatchObject({ allowed: true, remaining: 1 });
    expect((await limiter.stats('a'))[0]!.used).toBe(1);
  });

  it('answers undefined, charging nothing, when the request does not fit now', async () => {
    const { limiter } = setup();
    limiter.acquireNow({ scopes: 'a', cost: 2 });
    expect(limiter.acquireNow({ scopes: 'a' })).toBeUndefined();
    expect((await limiter.stats('a'))[0]!.used).toBe(2);
  });

  it('never goes before a waiter of the same scopes (first come, first served)', async () => {
    const clock = new FakeClock(START);
    const limiter = new RateLimiter({
      scopes: { b: { limit: 2, window: '1s', algorithm: 'token-bucket' } },
      clock,
      backend: new MemoryBackend(),
    });
    expect(limiter.acquireNow({ scopes: 'b', cost: 2 })?.allowed).toBe(true);
    const waiter = track(limiter.acquire({ scopes: 'b', cost: 2 }), clock); // full again in 1 s
    await settle();
    await clock.advance(500); // one token back: room for 1, not for the waiter's 2
    expect((await limiter.peek({ scopes: 'b' })).allowed).toBe(true);
    expect(limiter.acquireNow({ scopes: 'b' })).toBeUndefined();
    await clock.advance(500);
    await settle();
    expect(waiter).toMatchObject({ settled: true, at: START + 1000 });
  });

  it('answers undefined on a backend that answers asynchronously (acquire decides there)', async () => {
    const { limiter } = setup(asyncBackend());
    expect(limiter.acquireNow({ scopes: 'a' })).toBeUndefined();
    expect((await limiter.acquire({ scopes: 'a' })).allowed).toBe(true);
    expect((await limiter.stats('a'))[0]!.used).toBe(1);
  });
});
