/**
 * Two limiters on one backend, each with its own FakeClock, one lagging the other by more than a window:
 * the lagging one never resets the newer window of a fixed-window rule, on every backend (memory, SQLite,
 * Redis), and the same holds for the other algorithms (the policy: src/engine/README.md).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import type { Backend } from '../../src/backends/types.js';
import { FakeClock } from '../../src/core/clock.js';
import type { AlgorithmName, Rule } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';

const skip = await skipRedis('Redis clock-skew tests');
const dir = mkdtempSync(join(tmpdir(), 'rk-skew-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A minute aligned to Unix time. */
const T0 = 1_700_000_040_000;
let files = 0;

/** Two backends of one kind sharing state (memory: one instance; SQLite: one file; Redis: one prefix). */
const kinds: Array<[string, () => [Backend, Backend], boolean]> = [
  [
    'memory',
    () => {
      const shared = new MemoryBackend();
      return [shared, shared];
    },
    false,
  ],
  [
    'sqlite',
    () => {
      const path = join(dir, `skew-${++files}.sqlite`);
      return [new SqliteBackend({ path }), new SqliteBackend({ path })];
    },
    false,
  ],
  [
    'redis',
    () => {
      const prefix = uniquePrefix('skew');
      return [
        new RedisBackend({ url: REDIS_URL, prefix, fallback: false }),
        new RedisBackend({ url: REDIS_URL, prefix, fallback: false }),
      ];
    },
    skip,
  ],
];

describe.each(kinds)('clock skew between two limiters on %s', (_name, make, skipped) => {
  const pair = (algorithm: AlgorithmName) => {
    const [a, b] = make();
    const scopes: Record<string, Rule> = { chat: { limit: 3, window: '1m', algorithm } };
    // The on-time process is 90 s (1.5 windows) ahead of the lagging one.
    const onTime = new RateLimiter({ backend: a, clock: new FakeClock(T0 + 90_000), scopes });
    const lagging = new RateLimiter({ backend: b, clock: new FakeClock(T0), scopes });
    const close = async () => {
      await a.close();
      if (b !== a) await b.close();
    };
    return { onTime, lagging, close };
  };

  it.skipIf(skipped)('a lagging clock never resets a newer fixed window', async () => {
    const { onTime, lagging, close } = pair('fixed-window');
    try {
      for (let i = 0; i < 3; i++) expect((await onTime.tryAcquire({ scopes: 'chat' })).allowed).toBe(true);
      // The lagging clock is in the window before: it must neither be admitted nor start its window over.
      const refused = await lagging.tryAcquire({ scopes: 'chat' });
      expect(refused).toMatchObject({ allowed: false, retryAfterMs: 120_000 });
      expect((await onTime.tryAcquire({ scopes: 'chat' })).allowed).toBe(false);
      expect((await onTime.stats('chat'))[0]).toMatchObject({ used: 3, remaining: 0 });
      // Both admit again in the next window, each on its own clock.
      await (onTime.clock as FakeClock).advance(30_000);
      expect((await onTime.tryAcquire({ scopes: 'chat' })).allowed).toBe(true);
      await (lagging.clock as FakeClock).advance(120_000);
      expect((await lagging.tryAcquire({ scopes: 'chat' })).allowed).toBe(true);
      expect((await onTime.stats('chat'))[0]).toMatchObject({ used: 2 });
    } finally {
      await close();
    }
  });

  it.each<AlgorithmName>(['sliding-window', 'token-bucket'])(
    'a lagging clock is refused by what the on-time one used (%s)',
    async (algorithm) => {
      if (skipped) return;
      const { onTime, lagging, close } = pair(algorithm);
      try {
        for (let i = 0; i < 3; i++) expect((await onTime.tryAcquire({ scopes: 'chat' })).allowed).toBe(true);
        expect((await lagging.tryAcquire({ scopes: 'chat' })).allowed).toBe(false);
        expect((await onTime.stats('chat'))[0]).toMatchObject({ used: 3, remaining: 0 });
        // `acquire` on the lagging clock waits exactly what it was told, then is admitted.
        const clock = lagging.clock as FakeClock;
        const { retryAfterMs } = await lagging.peek({ scopes: 'chat' });
        const admitted = lagging.acquire({ scopes: 'chat' });
        // Its first decision is a round trip (Redis): wait until it sleeps on the clock.
        while (clock.pending === 0) await new Promise((resolve) => setTimeout(resolve, 1));
        await clock.advance(retryAfterMs - 1);
        expect((await onTime.stats('chat'))[0]!.used).toBe(3);
        await clock.advance(1);
        expect((await admitted).allowed).toBe(true);
      } finally {
        await close();
      }
    },
  );
});
