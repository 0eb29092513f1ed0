import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { systemClock } from '../../src/core/clock.js';
import { isRateKeeperError } from '../../src/core/errors.js';
import type { Rule } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { hasBinary, IN_CI, RedisServer, uniquePrefix, waitFor } from '../helpers/redis.js';

const skip = !IN_CI && !hasBinary('redis-server');
if (skip) console.warn('!!! SKIPPING Redis fallback tests: redis-server is not on PATH');

/**
 * A private redis-server is killed mid-run and restarted on the same port. Real (small) waits are
 * needed here: this tests reconnection, not rate math.
 */
describe.skipIf(skip)('RedisBackend fallback when Redis is unreachable', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('decides from memory with its share while down, counts it, and returns to Redis by itself', async () => {
    const prefix = uniquePrefix('fallback');
    const warnings: string[] = [];
    const logger = { warn: (message: string) => warnings.push(message) };
    const options = {
      url: server.url,
      prefix,
      fallback: { share: 0.5, probeInterval: 100 },
      commandTimeout: 300,
      logger,
    };
    const a = new RedisBackend(options);
    const b = new RedisBackend(options);
    const scopes: Record<string, Rule> = {
      shared: { limit: 10, window: '1h' },
      again: { limit: 10, window: '1h' },
      'many:*': { limit: 1000, window: '1h' },
    };
    const limiterA = new RateLimiter({ backend: a, clock: systemClock, scopes });
    const limiterB = new RateLimiter({ backend: b, clock: systemClock, scopes });

    for (let i = 0; i < 4; i++) expect((await limiterA.tryAcquire({ scopes: 'shared' })).allowed).toBe(true);
    expect((await limiterB.stats('shared'))[0]!.used).toBe(4); // shared through Redis
    expect(a.health).toMatchObject({ mode: 'redis', fallbacks: 0 });

    await server.kill();

    // No crash: decisions go on, from memory, with half of the limit (5), fast.
    const started = Date.now();
    const down = [];
    for (let i = 0; i < 8; i++) down.push((await limiterA.tryAcquire({ scopes: 'shared' })).allowed);
    expect(down).toEqual([true, true, true, true, true, false, false, false]);
    const concurrent = await Promise.all(
      Array.from({ length: 200 }, () => limiterA.tryAcquire({ scopes: 'many:1' })),
    );
    expect(concurrent.every((d) => d.allowed)).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(a.health).toMatchObject({ mode: 'fallback', fallbacks: 1, recoveries: 0 });
    expect(warnings.filter((w) => w.includes('deciding from memory'))).toHaveLength(1); // logged once

    // Queue operations fail with BackendError while down.
    const error = await Promise.resolve(a.queue('q').stats(Date.now())).catch((e: unknown) => e);
    expect(isRateKeeperError(error, 'ERR_BACKEND')).toBe(true);

    await server.restart();
    await waitFor(() => a.health.mode === 'redis', 10_000, 'backend A back on Redis');
    expect(a.health).toMatchObject({ mode: 'redis', fallbacks: 1, recoveries: 1 });

    // Shared again (the killed server kept nothing: no persistence).
    await waitFor(
      async () => {
        const d = await limiterA.tryAcquire({ scopes: 'again' });
        return d.allowed && a.health.mode === 'redis';
      },
      10_000,
      'a decision on Redis',
    );
    await waitFor(
      async () => (await limiterB.stats('again'))[0]?.used === 1 && b.health.mode === 'redis',
      10_000,
      'backend B to see A’s charge through Redis',
    );
    await a.close();
    await b.close();
  }, 30_000);

  it('with fallback: false, limit operations reject with BackendError while down', async () => {
    const backend = new RedisBackend({
      url: server.url,
      prefix: uniquePrefix('nofallback'),
      fallback: false,
      commandTimeout: 300,
    });
    const limiter = new RateLimiter({ backend, scopes: { x: { limit: 1, window: '1s' } } });
    expect((await limiter.tryAcquire({ scopes: 'x' })).allowed).toBe(true);
    await server.kill();
    const error = await limiter.tryAcquire({ scopes: 'x' }).catch((e: unknown) => e);
    expect(isRateKeeperError(error, 'ERR_BACKEND')).toBe(true);
    await server.restart();
    await backend.close();
  }, 30_000);
});
