/**
 * The loop's quota read-ahead on Redis (the next pass's quota read sent behind this pass's decisions) must
 * never serve a pass that did not follow at once: after a wait for a free slot another process may have
 * charged the shared quota, and a claim on the old read let a queued normal batch into the low-quota
 * reserve, or a small batch past an older one that the decision then refused. And while the limits are in
 * memory fallback (the store answers reads with a plain array), the read-ahead must not break the pass.
 * Found by review; each case failed before the fix (j2 sent into the reserve; B sent ahead of A; 68
 * TypeErrors in 1.5 s and only the direct message delivered).
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { FakeClock, systemClock } from '../../src/core/clock.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import type { RateLimitManagerOptions } from '../../src/manager/options.js';
import {
  deletePrefixes,
  hasBinary,
  IN_CI,
  REDIS_URL,
  RedisServer,
  skipRedis,
  uniquePrefix,
  waitFor,
} from '../helpers/redis.js';

const T0 = 1_700_000_000_000;
const skip = await skipRedis('the quota read-ahead on Redis');
const skipServer = !IN_CI && !hasBinary('redis-server');
const prefixes: string[] = [];

afterAll(async () => {
  if (prefixes.length === 0) return;
  const admin = new Redis(REDIS_URL);
  await deletePrefixes(admin, prefixes);
  admin.disconnect();
});

/** Two managers' backends on one prefix (two processes sharing a quota); A's sender waits for the test. */
function twoProcesses(options: Partial<RateLimitManagerOptions<string>>) {
  const prefix = uniquePrefix('ahead-stale');
  prefixes.push(prefix);
  const clock = new FakeClock(T0);
  const a = new RedisBackend({ url: REDIS_URL, prefix });
  const b = new RedisBackend({ url: REDIS_URL, prefix });
  const sent: string[] = [];
  const gates = new Map<string, () => void>();
  const common = { clock, capacity: 10, duration: '10s' as const, sleep: '100ms' as const, ...options };
  const A = new RateLimitManager<string>({
    ...common,
    backend: a,
    sender: async (batch) => {
      const id = batch[0]!.id;
      sent.push(id);
      await new Promise<void>((resolve) => gates.set(id, resolve));
    },
  });
  const B = new RateLimitManager<string>({ ...common, backend: b, sender: async () => {} });
  const close = async () => {
    for (const open of gates.values()) open();
    await A.stop();
    await a.close();
    await b.close();
  };
  return { A, B, sent, gates, close };
}

describe.skipIf(skip)('the quota read-ahead after a wait, two processes on one Redis', () => {
  it('keeps a queued normal batch out of the low-quota reserve another process reached', async () => {
    const { A, B, sent, gates, close } = twoProcesses({ concurrency: 1, lowQuotaThreshold: 0.3 });
    try {
      await A.start();
      expect(await A.sendOrEnqueue([{ id: 'j0', payload: 'x' }])).toBe('passed-to-sender');
      await waitFor(() => gates.has('j0'), 5000, 'j0 in the sender');
      expect(await A.sendOrEnqueue([{ id: 'j1', payload: 'x' }])).toBe('enqueued'); // no free slot
      gates.get('j0')!();
      await waitFor(() => gates.has('j1'), 5000, 'j1 claimed by the loop (its decision reads ahead)');
      expect(await A.sendOrEnqueue([{ id: 'j2', payload: 'x' }])).toBe('enqueued');
      // The other process charges 5: 3 left, at the reserve (0.3 × 10).
      expect((await B.limiter.tryAcquire({ scopes: B.scope, cost: 5 })).allowed).toBe(true);
      expect((await A.getQuota()).remaining).toBe(3);
      gates.get('j1')!(); // a slot frees: the next pass
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(sent).toEqual(['j0', 'j1']);
      expect(await A.getMessageStatus('j2')).toBe('enqueued');
    } finally {
      await close();
    }
  });

  it('keeps FIFO within a priority: a small newer batch does not pass an older one that does not fit', async () => {
    const { A, B, sent, gates, close } = twoProcesses({
      concurrency: 2,
      lowQuotaThreshold: 0,
      maxBatchFraction: 0.5,
    });
    try {
      await A.start();
      expect(await A.sendOrEnqueue([{ id: 'j0', payload: 'x' }])).toBe('passed-to-sender');
      expect(await A.sendOrEnqueue([{ id: 'j1', payload: 'x' }])).toBe('passed-to-sender');
      expect(await A.sendOrEnqueue([{ id: 'j2', payload: 'x' }])).toBe('enqueued');
      gates.get('j0')!();
      await waitFor(() => gates.has('j2'), 5000, 'j2 claimed by the loop (7 left, read ahead)');
      const older = [1, 2, 3, 4].map((i) => ({ id: `A${i}`, payload: 'x' }));
      expect(await A.sendOrEnqueue(older)).toBe('enqueued');
      expect(await A.sendOrEnqueue([{ id: 'B', payload: 'x' }])).toBe('enqueued');
      expect((await B.limiter.tryAcquire({ scopes: B.scope, cost: 4 })).allowed).toBe(true); // 3 left
      gates.get('j1')!();
      gates.get('j2')!();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(sent).not.toContain('B');
      expect(await A.getMessageStatus('B')).toBe('enqueued');
    } finally {
      await close();
    }
  });
});

describe.skipIf(skip || skipServer)('the quota read-ahead while the limits are in memory fallback', () => {
  it('the loop still delivers the queue and charges only what it sends', async () => {
    const server = await RedisServer.start();
    const backend = new RedisBackend({
      url: server.url,
      prefix: uniquePrefix('ahead-fallback'),
      fallback: { probeInterval: '1h' },
      commandTimeout: 300,
      logger: { warn() {} },
    });
    const sent: string[] = [];
    const errors: string[] = [];
    const manager = new RateLimitManager<string>({
      backend,
      clock: systemClock,
      capacity: 1000,
      duration: '1m',
      sleep: '20ms',
      concurrency: 1,
      sender: async (batch) => {
        sent.push(...batch.map((m) => m.id));
        await new Promise((resolve) => setTimeout(resolve, 30));
      },
    });
    manager.on('error', (e) => errors.push(String(e)));
    try {
      await manager.start();
      await server.kill();
      await manager.getQuota(); // the limits fall back to memory
      expect(backend.health.mode).toBe('fallback');
      await server.restart();
      await waitFor(
        async () => (await backend.client.ping().catch(() => '')) === 'PONG',
        10_000,
        'Redis back for the queue',
      );
      errors.length = 0;
      const before = (await manager.getQuota()).remaining; // the fallback's own share of the capacity
      for (let i = 0; i < 4; i++) await manager.sendOrEnqueue([{ id: `m${i}`, payload: 'x' }]);
      await waitFor(() => sent.length === 4, 5000, 'the four messages delivered');
      expect(backend.health.mode).toBe('fallback'); // still: the probe waits an hour
      expect([...sent].sort()).toEqual(['m0', 'm1', 'm2', 'm3']);
      expect(errors).toEqual([]);
      expect((await manager.getQuota()).remaining).toBe(before - 4);
    } finally {
      await manager.stop();
      await backend.close();
      await server.stop();
    }
  }, 30_000);
});
