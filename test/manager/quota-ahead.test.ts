import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { ManagerQuota } from '../../src/manager/quota.js';
import { deletePrefixes, REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';

const skip = await skipRedis('manager quota read-ahead tests');
const T0 = 1_700_000_000_000;

/**
 * The loop's read-ahead of its quota (ManagerQuota#prefetch, #takeAhead): read behind the loop's own
 * decisions on Redis, and never handed to the next pass once an offer of this manager has charged since
 * (a stale read would let the next claim take normal jobs out of the low-quota reserve).
 */
describe.skipIf(skip)('manager quota read-ahead on Redis', () => {
  const prefixes: string[] = [];
  const admin = new Redis(REDIS_URL);

  afterAll(async () => {
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
  });

  function setup() {
    const prefix = uniquePrefix('ahead');
    prefixes.push(prefix);
    const backend = new RedisBackend({ url: REDIS_URL, prefix });
    const clock = new FakeClock(T0);
    const limiter = new RateLimiter({ backend, clock, scopes: { q: { limit: 10, window: '10s' } } });
    return { backend, clock, limiter, quota: new ManagerQuota(limiter, 'q', new Map()) };
  }

  it('reads behind the decisions asked for before it, in their round trip', async () => {
    const { backend, limiter, quota } = setup();
    const decided = limiter.tryAcquireMany([
      { scopes: 'q', cost: 3 },
      { scopes: 'q', cost: 4 },
    ]);
    quota.prefetch(T0);
    expect((await decided).map((d) => d.allowed)).toEqual([true, true]);
    const ahead = quota.takeAhead(T0, 100);
    expect((await ahead!).remaining).toBe(3);
    // Taken once: the pass after it reads for itself.
    expect(quota.takeAhead(T0, 100)).toBeUndefined();
    await backend.close();
  });

  it('is dropped after an offer charged, and when older than the allowed age', async () => {
    const { backend, quota } = setup();
    quota.prefetch(T0);
    quota.charged(); // a direct offer of this manager was charged after the read was taken
    expect(quota.takeAhead(T0, 100)).toBeUndefined();
    quota.prefetch(T0);
    expect(quota.takeAhead(T0 + 101, 100)).toBeUndefined();
    quota.prefetch(T0);
    expect(quota.takeAhead(T0 - 1, 100)).toBeUndefined(); // the clock stepped back
    quota.prefetch(T0);
    expect(await quota.takeAhead(T0 + 100, 100)).toMatchObject({ scope: 'q', remaining: 10 });
    await backend.close();
  });

  it('reads nothing ahead on a synchronous backend (its reads cost no round trip)', () => {
    const backend = new MemoryBackend();
    const limiter = new RateLimiter({
      backend,
      clock: new FakeClock(T0),
      scopes: { q: { limit: 10, window: '10s' } },
    });
    const quota = new ManagerQuota(limiter, 'q', new Map());
    quota.prefetch(T0);
    expect(quota.takeAhead(T0, 100)).toBeUndefined();
  });
});
