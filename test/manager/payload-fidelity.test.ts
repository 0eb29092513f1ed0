/**
 * The sender gets the same payload whichever path a message took (issue 12): sent at once, or queued first
 * and drained later. SQLite and Redis keep JSON, so a payload JSON would not give back identical is refused
 * on both paths (`dropped-failed-to-enqueue`, the reason in the record); memory keeps values by reference.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import type { Backend } from '../../src/backends/types.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { deletePrefixes, REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';
import { T0 } from './harness.js';

const skip = await skipRedis('payload fidelity on Redis');
const dir = mkdtempSync(join(tmpdir(), 'rk-fidelity-'));
const prefixes: string[] = [];
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (prefixes.length > 0) {
    const admin = new Redis(REDIS_URL);
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
  }
});

let files = 0;
const cases: Array<{ name: string; json: boolean; skip: boolean; make(): Backend }> = [
  { name: 'memory', json: false, skip: false, make: () => new MemoryBackend() },
  {
    name: 'SQLite',
    json: true,
    skip: false,
    make: () => new SqliteBackend({ path: join(dir, `f${++files}.db`) }),
  },
  {
    name: 'Redis',
    json: true,
    skip,
    make: () => {
      const prefix = uniquePrefix('fidelity');
      prefixes.push(prefix);
      return new RedisBackend({ url: REDIS_URL, prefix });
    },
  },
];

/** A manager of capacity 2 per 10 s whose sender records each payload by message id. */
async function setup(backend: Backend) {
  const clock = new FakeClock(T0);
  const received = new Map<string, unknown>();
  const manager = new RateLimitManager<unknown>({
    backend,
    clock,
    capacity: 2,
    duration: '10s',
    maxBatchFraction: 1,
    lowQuotaThreshold: 0,
    sender: async (batch) => {
      for (const m of batch) received.set(m.id, m.payload);
    },
  });
  await manager.start();
  /** Offers one message directly (fresh quota) and one after the quota ran out (queued, drained later). */
  const bothPaths = async (payload: unknown) => {
    const direct = await manager.sendOrEnqueue([{ id: 'direct', payload }]);
    await manager.sendOrEnqueue([{ id: 'filler', payload: 0 }]);
    const queued = await manager.sendOrEnqueue([{ id: 'queued', payload }]);
    await clock.advance(10_100);
    // The quota is back: let the loop drain (Redis answers on real I/O, so give it real turns too).
    const deadline = Date.now() + 5_000;
    while (queued === 'enqueued' && !received.has('queued')) {
      if (Date.now() > deadline) throw new Error('the queued message was not delivered');
      await clock.advance(100);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await settle(5);
    return { direct, queued };
  };
  const close = async () => {
    await manager.stop();
    await backend.close();
  };
  return { manager, clock, received, bothPaths, close };
}

const safe = {
  text: 'héllo \u{1F600} "quoted"',
  lone: '\ud800',
  n: 1.5,
  big: 2 ** 60,
  neg: -3,
  zero: 0,
  yes: true,
  none: null,
  at: '2026-12-01T00:00:00.000Z',
  list: [1, 'two', null, [3], { four: 4 }],
  nested: { deep: { empty: [], obj: {} } },
};

describe.each(cases)('payload fidelity on $name', ({ name, json, skip, make }) => {
  it.skipIf(skip)('a JSON-safe payload arrives identical sent directly and after queueing', async () => {
    const { received, bothPaths, close } = await setup(make());
    expect(await bothPaths(safe)).toEqual({ direct: 'passed-to-sender', queued: 'enqueued' });
    expect(received.get('direct')).toStrictEqual(safe);
    expect(received.get('queued')).toStrictEqual(safe);
    await close();
  });

  it.skipIf(skip)('a string, a number and an array arrive identical on both paths', async () => {
    for (const payload of ['just text', 42, [1, [2, { three: 3 }]]]) {
      const { received, bothPaths, close } = await setup(make());
      await bothPaths(payload);
      expect([received.get('direct'), received.get('queued')]).toStrictEqual([payload, payload]);
      await close();
    }
  });

  if (json) {
    it.skipIf(skip)(
      `a Date or a Map is refused on both paths (${name} keeps JSON), the path inside the payload in the record`,
      async () => {
        const { manager, received, bothPaths, close } = await setup(make());
        const payload = { meta: { at: new Date(T0) }, tags: new Map([['a', 1]]) };
        expect(await bothPaths(payload)).toEqual({
          direct: 'dropped-failed-to-enqueue',
          queued: 'dropped-failed-to-enqueue',
        });
        for (const id of ['direct', 'queued']) {
          const record = await manager.getMessageRecord(id);
          expect(record?.status).toBe('dropped-failed-to-enqueue');
          expect(record?.lastError).toContain(
            `the payload of message "${id}" cannot be stored: payload.meta.at is a Date; ${name} keeps JSON: send an ISO string`,
          );
        }
        expect(received.has('direct')).toBe(false);
        expect(received.has('queued')).toBe(false);
        expect(received.get('filler')).toBe(0);
        const stats = await manager.stats();
        expect(stats.queued).toEqual({ critical: 0, normal: 0, optional: 0 });
        await close();
      },
    );

    it.skipIf(skip)('the quota charged for a refused direct send is given back', async () => {
      const { manager, close } = await setup(make());
      expect(await manager.sendOrEnqueue([{ id: 'x', payload: { n: 10n } }])).toBe(
        'dropped-failed-to-enqueue',
      );
      expect(await manager.getQuota()).toEqual({ remaining: 2, total: 2 });
      expect((await manager.getMessageRecord('x'))?.lastError).toMatch(/payload\.n is a bigint/);
      await close();
    });
  } else {
    it('memory keeps payloads by reference: a Date and a Map arrive as the same objects on both paths', async () => {
      const { received, bothPaths, close } = await setup(make());
      const payload = { meta: { at: new Date(T0) }, tags: new Map([['a', 1]]) };
      expect(await bothPaths(payload)).toEqual({ direct: 'passed-to-sender', queued: 'enqueued' });
      expect(received.get('direct')).toBe(payload);
      expect(received.get('queued')).toBe(payload);
      await close();
    });
  }
});
