import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import {
  MemoryRunStore,
  RedisRunStore,
  type RunRecord,
  type RunStore,
  SqliteRunStore,
} from '../../src/runs/index.js';
import { mutate } from '../../src/runs/store/index.js';
import { deletePrefix, REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';

function record(id: string, startedAt: number): RunRecord {
  return {
    id,
    status: 'running',
    input: {
      backlog: 'default',
      deadlineMs: 1000,
      maxWorkers: 1,
      maxAttempts: 3,
      replanEveryMs: 5000,
      leaseMs: 5000,
      graceMs: 5000,
      marginMs: 0,
      types: {},
    },
    plan: {
      feasible: true,
      workers: 0,
      finishMs: 0,
      leftover: 0,
      bottleneck: { kind: 'none' },
      exact: true,
      deadlineMs: 1000,
      types: {},
    },
    workers: {},
    replans: 0,
    startedAt,
    deadlineAt: startedAt + 1000,
    plannedFinishAt: startedAt,
    actualFinishAt: null,
    finishedAt: null,
    processed: {},
    failures: 0,
    deadLettered: 0,
    carriedIn: {},
    leftovers: {},
    cancelRequested: false,
    participants: 0,
    heartbeats: {},
    shares: {},
    error: null,
    version: 1,
  };
}

const skip = await skipRedis('run store on Redis');
const dir = mkdtempSync(join(tmpdir(), 'rk-runs-store-'));
const prefix = uniquePrefix('runstore');
let redis: Redis | undefined;
let sqlite: SqliteBackend | undefined;

beforeAll(() => {
  sqlite = new SqliteBackend({ path: join(dir, 'rk.db') });
  if (!skip) redis = new Redis(REDIS_URL);
});
afterAll(async () => {
  await sqlite?.close();
  rmSync(dir, { recursive: true, force: true });
  if (redis) {
    await deletePrefix(redis, prefix);
    redis.disconnect();
  }
});

const cases: Array<{ name: string; make: () => RunStore; skip?: boolean }> = [
  { name: 'memory', make: () => new MemoryRunStore() },
  { name: 'sqlite', make: () => new SqliteRunStore(sqlite!.database) },
  { name: 'redis', make: () => new RedisRunStore(redis!, `${prefix}:${Math.random()}`), skip },
];

describe.each(cases)('RunStore on $name', ({ make, skip: skipped }) => {
  it.skipIf(skipped)('creates once, gets copies, lists the latest first', async () => {
    const store = make();
    expect(await store.create(record('a', 1000))).toBe(true);
    expect(await store.create(record('a', 5000))).toBe(false);
    expect(await store.create(record('b', 3000))).toBe(true);
    expect(await store.create(record('c', 2000))).toBe(true);
    const a = await store.get('a');
    expect(a?.startedAt).toBe(1000);
    expect(await store.get('nope')).toBeUndefined();
    expect((await store.list(10)).map((r) => r.id)).toEqual(['b', 'c', 'a']);
    expect((await store.list(2)).map((r) => r.id)).toEqual(['b', 'c']);
  });

  it.skipIf(skipped)('update is compare-and-set on the version', async () => {
    const store = make();
    await store.create(record('r', 1000));
    const next = { ...record('r', 1000), failures: 4, version: 2 };
    expect(await store.update(next, 1)).toBe(true);
    expect(await store.update({ ...next, failures: 9, version: 2 }, 1)).toBe(false);
    expect((await store.get('r'))?.failures).toBe(4);
    expect(await store.update({ ...record('missing', 1), version: 2 }, 1)).toBe(false);
  });

  it.skipIf(skipped)('concurrent mutations lose no increment', async () => {
    const store = make();
    await store.create(record('m', 1000));
    await Promise.all(
      Array.from({ length: 20 }, () =>
        mutate(store, 'm', (r) => {
          r.failures++;
          return true;
        }),
      ),
    );
    const r = await store.get('m');
    expect(r?.failures).toBe(20);
    expect(r?.version).toBe(21);
  });
});
