import { describe, expect, it } from 'vitest';
import type { Backend, LimitStore } from '../../src/backends/types.js';
import type { Decision } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

// The group commit of a tick (`groupCommit` stores) with a custom asynchronous store: whatever it answers,
// every caller of the tick settles.

function limiterWith(decideMany: () => Promise<unknown>): RateLimiter {
  const allowed: Decision = { allowed: true, retryAfterMs: 0, remaining: 1 } as Decision;
  const limits = {
    sync: false,
    groupCommit: true,
    decide: async () => allowed,
    decideMany,
    peek: async () => allowed,
    adjust: async () => {},
    block: async () => {},
    inspect: async () => [],
    reset: async () => {},
  } as unknown as LimitStore;
  return new RateLimiter({
    backend: { limits } as unknown as Backend,
    scopes: { 'chat:*': { limit: 5, window: 1000 } },
  });
}

describe('group commit through an asynchronous store', () => {
  it('a store answering something else than decisions rejects every caller of the tick', async () => {
    const limiter = limiterWith(async () => 'not decisions');
    const calls = [limiter.tryAcquire({ scopes: 'chat:1' }), limiter.tryAcquire({ scopes: 'chat:2' })];
    const settled = await Promise.allSettled(calls);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
  });

  it('a store that fails rejects every caller with its error', async () => {
    const failure = new Error('store down');
    const limiter = limiterWith(async () => {
      throw failure;
    });
    const settled = await Promise.allSettled([
      limiter.tryAcquire({ scopes: 'chat:1' }),
      limiter.tryAcquire({ scopes: 'chat:2' }),
    ]);
    expect(settled).toEqual([
      { status: 'rejected', reason: failure },
      { status: 'rejected', reason: failure },
    ]);
  });
});
