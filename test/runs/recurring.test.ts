import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import type { Backend } from '../../src/backends/types.js';
import { importRedisList, type RunHandler, type RunRecord, Runs } from '../../src/runs/index.js';
import { REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';
import { FakeClock, T0 } from './helpers.js';

const definition = {
  deadline: '25s',
  maxWorkers: 10,
  replanEvery: '2s',
  types: {
    A: {
      duration: '1s',
      endpoints: [
        { name: 'a1', limit: 5, window: '10s' },
        { name: 'a2', limit: 5, window: '10s' },
      ],
    },
  },
} as const;

describe('recurring runs', () => {
  it('start every 30 s; each takes the previous leftovers first', async () => {
    const clock = new FakeClock(T0);
    const runs = new Runs({ backend: new MemoryBackend(), clock });
    const order: string[] = [];
    const handler: RunHandler<null> = async (job, { signal }) => {
      order.push(job.id);
      await clock.sleep(1000, signal);
    };
    await runs.enqueue(
      'A',
      Array.from({ length: 50 }, (_, i) => ({ id: `j${i}`, payload: null })),
    );
    const recurring = runs.recurring(definition, handler, '30s');
    for (let i = 0; i < 700 && recurring.ids.length < 3; i++) await clock.advance(100);
    await recurring.stop();
    expect(recurring.ids.length).toBe(3);
    const [first, second, third] = (await Promise.all(
      recurring.ids.map((id) => runs.get(id)),
    )) as RunRecord[];
    expect(first!.startedAt).toBe(T0);
    expect(second!.startedAt).toBe(T0 + 30_000);
    expect(first!.leftovers).toEqual({ A: 20 });
    expect(second!.carriedIn).toEqual({ A: 20 });
    expect(second!.leftovers).toEqual({ A: 0 });
    // Nothing left for the third: it finishes at once.
    expect(third!.startedAt).toBe(T0 + 60_000);
    expect(third!.status).toBe('finished');
    expect(third!.carriedIn).toEqual({ A: 0 });
    // FIFO across runs: every job ran once, in the order it was queued.
    expect(order).toEqual(Array.from({ length: 50 }, (_, i) => `j${i}`));
  });
});

describe('a recurring run whose backend fails once', () => {
  it('records the error and keeps the cadence: the next run starts on time and takes what was left', async () => {
    const clock = new FakeClock(T0);
    const inner = new MemoryBackend();
    let failClaims = true;
    const backend: Backend = {
      kind: inner.kind,
      limits: inner.limits,
      close: () => inner.close(),
      queue<T>(name?: string) {
        const queue = inner.queue<T>(name);
        return new Proxy(queue, {
          get(target, key, receiver) {
            const value = Reflect.get(target, key, receiver);
            if (key === 'claim' && failClaims)
              return () => {
                failClaims = false;
                throw new Error('disk I/O error');
              };
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      },
    };
    const runs = new Runs({ backend, clock });
    await runs.enqueue(
      'A',
      Array.from({ length: 5 }, (_, i) => ({ id: `j${i}`, payload: null })),
    );
    const handler: RunHandler<null> = async (_job, { signal }) => clock.sleep(1000, signal);
    const recurring = runs.recurring(definition, handler, '30s');
    await clock.advance(100);
    const [usage] = await runs.limiter.stats('run:A:a1');
    expect(usage?.used).toBe(0);
    for (let i = 0; i < 400 && recurring.ids.length < 2; i++) await clock.advance(100);
    for (let i = 0; i < 100; i++) await clock.advance(100);
    await recurring.stop();
    expect(recurring.errors.map((e) => (e as Error).message)).toEqual(['disk I/O error']);
    const [first, second] = (await Promise.all(recurring.ids.map((id) => runs.get(id)))) as RunRecord[];
    expect(first!.status).toBe('failed');
    expect(second!.startedAt).toBe(T0 + 30_000);
    expect(second!.status).toBe('finished');
    expect(second!.processed.A).toEqual({ a1: 5 });
  });
});

const skip = await skipRedis('importing a Redis list');
describe.skipIf(skip)('importRedisList', () => {
  const client = skip ? undefined : new Redis(REDIS_URL);
  const key = `${uniquePrefix('runs-list')}:events`;
  afterAll(async () => {
    await client?.del(key);
    client?.disconnect();
  });

  it('moves the seed-style list into the backlog oldest first, and skips ids already waiting', async () => {
    const runs = new Runs({ backend: new MemoryBackend() });
    const items = Array.from({ length: 7 }, (_, i) =>
      JSON.stringify({ id: `e${i}`, type: i % 2 ? 'B' : 'A', payload: { n: i } }),
    );
    await client!.rpush(key, ...items);
    expect(await importRedisList(runs, client!, { key, batch: 3 })).toBe(7);
    expect(await client!.llen(key)).toBe(0);
    expect(await runs.backlog(['A', 'B'])).toEqual({ A: 4, B: 3 });
    // A crash between adding and trimming leaves items in the list: importing again does not double them.
    await client!.rpush(key, items[0]!, JSON.stringify({ id: 'e9', type: 'A', payload: null }));
    expect(await importRedisList(runs, client!, { key })).toBe(2);
    expect(await runs.backlog(['A', 'B'])).toEqual({ A: 5, B: 3 });
  });
});
