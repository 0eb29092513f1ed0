/**
 * Endpoint pools through the RateLimiter: the primary first, the overflow round-robin, `acquire` waiting
 * exactly until some alternative admits, on every backend.
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
import { CostExceedsCapacityError, InvalidArgumentError } from '../../src/core/errors.js';
import type { LimitRequest } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';
import { track } from './helpers.js';

const skip = await skipRedis('Redis pool tests');
const dir = mkdtempSync(join(tmpdir(), 'rk-pools-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const T0 = 1_700_000_040_000;
const kinds: Array<[string, () => Backend, boolean]> = [
  ['memory', () => new MemoryBackend(), false],
  ['sqlite', () => new SqliteBackend({ path: join(dir, `pools-${++files}.sqlite`) }), false],
  ['redis', () => new RedisBackend({ url: REDIS_URL, prefix: uniquePrefix('pools'), fallback: false }), skip],
];

/** A job type's endpoints (seed 004): a primary and two overflow endpoints, 2 calls per second each. */
const job: LimitRequest = {
  scopes: 'workers',
  alternatives: [{ scopes: 'rebalance' }, { scopes: 'overflow-1' }, { scopes: 'overflow-2' }],
};

describe.each(kinds)('endpoint pools on %s', (_name, makeBackend, skipped) => {
  const setup = () => {
    const backend = makeBackend();
    const clock = new FakeClock(T0);
    const limiter = new RateLimiter({
      backend,
      clock,
      scopes: {
        workers: { limit: 100, window: '1s' },
        rebalance: { limit: 2, window: '1s' },
        'overflow-*': { limit: 2, window: '1s' },
      },
    });
    return { backend, clock, limiter };
  };

  it.skipIf(skipped)('prefers the primary, then spreads over the overflow round-robin', async () => {
    const { backend, limiter } = setup();
    try {
      const got = [];
      for (let i = 0; i < 7; i++) got.push(await limiter.tryAcquire(job));
      // The cursor moves one step per request of the pool (two overflow: 0, 1, 0, 1, …), so the overflow
      // requests start at overflow-1, overflow-2, overflow-1, …; refused, the primary's wait is as short as any.
      expect(got.map((d) => d.alternative)).toEqual([0, 0, 1, 2, 1, 2, 0]);
      expect(got.map((d) => d.allowed)).toEqual([true, true, true, true, true, true, false]);
      const used = (await limiter.stats(['workers', 'rebalance', 'overflow-1', 'overflow-2'])).map(
        (s) => s.used,
      );
      expect(used).toEqual([6, 2, 2, 2]);
    } finally {
      await backend.close();
    }
  });

  it.skipIf(skipped)('tryAcquireMany and tryAcquireSync say which alternative each request got', async () => {
    const { backend, limiter } = setup();
    try {
      const decisions = await limiter.tryAcquireMany([job, { scopes: 'rebalance' }, job, job]);
      expect(decisions.map((d) => [d.allowed, d.alternative])).toEqual([
        [true, 0],
        [true, undefined],
        [true, 2],
        [true, 1],
      ]);
      if (backend.limits.sync) expect(limiter.tryAcquireSync(job)).toMatchObject({ allowed: true });
    } finally {
      await backend.close();
    }
  });

  it.skipIf(skipped)('acquire waits exactly until some alternative admits', async () => {
    const { backend, clock, limiter } = setup();
    try {
      await limiter.tryAcquire({ scopes: 'rebalance', cost: 2 });
      await clock.advance(300);
      await limiter.tryAcquire({ scopes: 'overflow-1', cost: 2 });
      await clock.advance(300);
      await limiter.tryAcquire({ scopes: 'overflow-2', cost: 2 });
      const { retryAfterMs, alternative } = await limiter.peek(job);
      expect(alternative).toBe(0);
      const waiting = track(limiter.acquire(job), clock);
      while (clock.pending === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      await clock.advance(retryAfterMs - 1);
      expect(waiting.settled).toBe(false);
      await clock.advance(1);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(waiting.value).toMatchObject({ allowed: true, alternative: 0 });
    } finally {
      await backend.close();
    }
  });

  it.skipIf(skipped)(
    'rejects alternatives that overlap the own scopes, an empty pool, and a cost no one fits',
    async () => {
      const { backend, limiter } = setup();
      try {
        await expect(
          limiter.tryAcquire({ scopes: 'workers', alternatives: [{ scopes: ['rebalance', 'workers'] }] }),
        ).rejects.toThrow(InvalidArgumentError);
        await expect(limiter.tryAcquire({ scopes: 'workers', alternatives: [] })).rejects.toThrow(
          /alternatives/,
        );
        await expect(limiter.acquire({ ...job, cost: 3 })).rejects.toThrow(CostExceedsCapacityError);
        // A cost that one alternative can carry is not "too big".
        const mixed: LimitRequest = {
          scopes: 'workers',
          cost: 3,
          alternatives: [{ scopes: 'rebalance' }, { scopes: 'unlimited' }],
        };
        expect(await limiter.acquire(mixed)).toMatchObject({ allowed: true, alternative: 1 });
      } finally {
        await backend.close();
      }
    },
  );
});
