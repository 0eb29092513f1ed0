/**
 * Stored states record the algorithm that wrote them (SQLite: the BLOB's last byte, state-codec.ts; Redis:
 * limits/state.lua). What is checked here is what the matrix of test/limiter/algorithm-change.test.ts does not
 * reach: states written before they carried their algorithm (the bytes below are what ratekeeper wrote up to
 * commit ded400b, dumped from it) are still read as their own rule's, and are never misread by another
 * algorithm when their shape tells them apart; an earlier version sharing a SQLite file still reads the new
 * BLOBs; a Redis sliding window's log does not outlive its state when another algorithm writes over it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { decodeState } from '../../src/backends/sqlite/state-codec.js';
import type { Backend } from '../../src/backends/types.js';
import { FakeClock } from '../../src/core/clock.js';
import type { AlgorithmName, Rule } from '../../src/core/types.js';
import { compileRule } from '../../src/engine/rules.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { deletePrefixes, REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';

const ALGORITHMS: readonly AlgorithmName[] = [
  'sliding-window',
  'token-bucket',
  'fixed-window',
  'anchored-window',
];
/** The dump: one charge at T, two at T + 700, on `{ limit: 5, window: '1m', algorithm }` (3 used at T + 700). */
const T = 1_699_999_201_000;
const NOW = T + 700;
const RULE = 'requests/60000ms';

/** `rk_limit_state.state` (hex) and `idle_at`, per algorithm, as written before states were tagged. */
const SQLITE_ROWS: Record<AlgorithmName, [state: string, idleAt: number]> = {
  'sliding-window': ['000030E4261CF541000000000000F03F000050E4261CF5410000000000000040', 1699999261800],
  'token-bucket': ['0080389CFDBC7842', 1699999237000],
  'fixed-window': ['00003093FDBC78420000000000000840', 1699999260000],
  'anchored-window': ['00806E93FDBC78420000000000000840', 1699999261000],
};
/** The hash field of each rule state in Redis (a sliding window's was tagged already: 'i' or 'f' first). */
const REDIS_FIELDS: Partial<Record<AlgorithmName, string>> = {
  'token-bucket': '0080389cfdbc7842',
  'fixed-window': '00003093fdbc78420000000000000840',
  'anchored-window': '00806e93fdbc78420000000000000840',
};

/**
 * Usage an untagged state of `written` shows to a rule of `read`: its own, or none when the shape says it
 * is another algorithm's. Fixed and anchored windows (two numbers each) cannot be told apart: each reads the
 * other's as its own, which counts usage that did happen in a window of that length.
 */
function expectedUsed(written: AlgorithmName, read: AlgorithmName): number {
  const windows = ['fixed-window', 'anchored-window'];
  return written === read || (windows.includes(written) && windows.includes(read)) ? 3 : 0;
}

/** Reads scope `written` (holding that algorithm's untagged state) with a rule of `read`. */
async function expectRead(backend: Backend, written: AlgorithmName, read: AlgorithmName): Promise<void> {
  const clock = new FakeClock(NOW);
  const limiter = new RateLimiter({
    backend,
    clock,
    scopes: { [written]: { limit: 5, window: '1m', algorithm: read } },
  });
  const used = expectedUsed(written, read);
  const [stats] = await limiter.stats(written);
  expect(stats).toMatchObject({ used, remaining: 5 - used });
  for (let i = 0; i < 5 - used; i++) {
    const d = await limiter.tryAcquire({ scopes: written });
    expect(d).toMatchObject({ allowed: true, remaining: 4 - used - i });
  }
  const refused = await limiter.tryAcquire({ scopes: written });
  expect(refused.allowed).toBe(false);
  expect(refused.retryAfterMs).toBeGreaterThan(0);
  expect(refused.retryAfterMs).toBeLessThanOrEqual(60_300);
  await limiter.adjust({ scopes: written, delta: -1 });
  expect((await limiter.stats(written))[0]).toMatchObject({ used: 4, remaining: 1 });
}

const dir = mkdtempSync(join(tmpdir(), 'rk-stored-algorithm-'));
let files = 0;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SQLite: states written before they carried their algorithm', () => {
  /** A database holding the dumped rows, and a backend on it. */
  function legacy(): { db: Database.Database; backend: SqliteBackend } {
    const db = new Database(join(dir, `db-${++files}.sqlite`));
    const backend = new SqliteBackend({ database: db });
    const insert = db.prepare('INSERT INTO rk_limit_state (key, scope, state, idle_at) VALUES (?, ?, ?, ?)');
    for (const [algorithm, [state, idleAt]] of Object.entries(SQLITE_ROWS)) {
      insert.run(`${algorithm}|${RULE}`, algorithm, Buffer.from(state, 'hex'), idleAt);
    }
    return { db, backend };
  }

  describe.each(ALGORITHMS)('written by %s', (written) => {
    it.each(ALGORITHMS)('read by %s', async (read) => {
      const { db, backend } = legacy();
      try {
        await expectRead(backend, written, read);
      } finally {
        await backend.close();
        db.close();
      }
    });
  });

  it('an earlier version sharing the file still reads the numbers of the BLOBs written now', async () => {
    // Before the algorithm's byte, a BLOB was decoded as its `length >>> 3` doubles.
    const decodeBefore = (blob: Buffer) =>
      Array.from({ length: blob.length >>> 3 }, (_, i) => blob.readDoubleLE(i * 8));
    const { db, backend } = legacy();
    try {
      for (const algorithm of ALGORITHMS) {
        const rule = { limit: 5, window: '1m', algorithm } as const;
        const limiter = new RateLimiter({
          backend,
          clock: new FakeClock(NOW),
          scopes: { [algorithm]: rule },
        });
        // Charged, so written back now with its algorithm's byte.
        expect((await limiter.tryAcquire({ scopes: algorithm })).allowed).toBe(true);
        const blob = db
          .prepare('SELECT state FROM rk_limit_state WHERE key = ?')
          .pluck()
          .get(`${algorithm}|${RULE}`) as Buffer;
        expect(blob.length % 8).toBe(1);
        expect(decodeBefore(blob)).toEqual(decodeState(blob, compileRule(rule), NOW));
      }
    } finally {
      await backend.close();
      db.close();
    }
  });
});

describe('SQLite: an old sliding window read by a process whose clock lags', () => {
  // Found in review: the shape check bounded the newest sub-window by the reader's `now` plus one window,
  // so a reader lagging the writer by more than a window read a real old state as never used, and
  // admitted a whole limit more. A lagging clock must count more, never less (src/engine/README.md).
  const T = 1_700_000_000_000;
  const rule = { limit: 5, window: '100ms', algorithm: 'sliding-window' } as const;

  async function admittedAfterLag(lagMs: number, stripTag: boolean): Promise<number> {
    const path = join(dir, `skew-${++files}.sqlite`);
    const writerBackend = new SqliteBackend({ path });
    const writer = new RateLimiter({
      backend: writerBackend,
      clock: new FakeClock(T + lagMs),
      scopes: { s: rule },
    });
    for (let i = 0; i < 5; i++) expect((await writer.tryAcquire({ scopes: 's' })).allowed).toBe(true);
    await writerBackend.close();
    if (stripTag) {
      // The same doubles without the algorithm's byte: what a process of the version before wrote.
      const db = new Database(path);
      db.prepare('UPDATE rk_limit_state SET state = substr(state, 1, length(state) - 1)').run();
      db.close();
    }
    const readerBackend = new SqliteBackend({ path });
    const reader = new RateLimiter({ backend: readerBackend, clock: new FakeClock(T), scopes: { s: rule } });
    let admitted = 0;
    try {
      for (let i = 0; i < 10; i++) if ((await reader.tryAcquire({ scopes: 's' })).allowed) admitted++;
    } finally {
      await readerBackend.close();
    }
    return admitted;
  }

  it.each([150, 1_500, 60_000])('a reader %i ms behind counts the old state (none admitted)', async (lag) => {
    expect(await admittedAfterLag(lag, true)).toBe(0);
  });

  it('and the tagged state the same', async () => {
    expect(await admittedAfterLag(1_500, false)).toBe(0);
  });
});

const skip = await skipRedis('stored-algorithm tests on Redis');

describe.skipIf(skip)('Redis: states written before they carried their algorithm', () => {
  let admin: Redis;
  const prefixes: string[] = [];
  beforeAll(() => {
    admin = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
  });
  function backend(): { prefix: string; backend: RedisBackend } {
    const prefix = uniquePrefix('stored');
    prefixes.push(prefix);
    return { prefix, backend: new RedisBackend({ url: REDIS_URL, prefix, fallback: false }) };
  }

  const written = Object.keys(REDIS_FIELDS) as AlgorithmName[];
  describe.each(written)('written by %s', (algorithm) => {
    it.each(ALGORITHMS)('read by %s', async (read) => {
      const { prefix, backend: b } = backend();
      try {
        const key = `{${prefix}}:l:s2:${algorithm}`;
        await admin.hset(key, RULE, Buffer.from(REDIS_FIELDS[algorithm]!, 'hex'));
        await admin.pexpire(key, 120_000);
        await expectRead(b, algorithm, read);
      } finally {
        await b.close();
      }
    });
  });

  // A decision of one rule on one scope takes the scripts' fast path (limits/fast), a correction the general one.
  it.each([
    ['a decision', (l: RateLimiter) => l.tryAcquire({ scopes: 's' })],
    ['a correction', (l: RateLimiter) => l.adjust({ scopes: 's', delta: 1 })],
  ])(
    'a sliding window written over by another algorithm (%s) leaves no log behind to come back',
    async (_, write) => {
      const { prefix, backend: b } = backend();
      try {
        const clock = new FakeClock(T);
        const rule = (algorithm: AlgorithmName): Rule => ({ limit: 5, window: '1m', algorithm });
        const limiter = new RateLimiter({ backend: b, clock, scopes: { s: rule('sliding-window') } });
        // Three sub-windows (of 300 ms): the two older ones are in the log list.
        for (const at of [T, T + 300, T + 600]) {
          clock.set(at);
          expect((await limiter.tryAcquire({ scopes: 's' })).allowed).toBe(true);
        }
        const log = `{${prefix}}:l:w2:1:s:${RULE}`;
        expect(await admin.llen(log)).toBe(2);
        limiter.define('s', rule('token-bucket'));
        await write(limiter);
        expect(await admin.exists(log)).toBe(0);
        // Back to a sliding window: it starts over, and its new log holds only its own sub-windows.
        limiter.define('s', rule('sliding-window'));
        for (const at of [T + 900, T + 1200, T + 1500, T + 1800, T + 2100]) {
          clock.set(at);
          expect((await limiter.tryAcquire({ scopes: 's' })).allowed).toBe(true);
        }
        expect(await admin.llen(log)).toBe(4);
        // Full: the oldest of its own sub-windows, the one of T + 900, frees a unit a window after its end.
        const end = (Math.floor((T + 900) / 300) + 1) * 300;
        expect(await limiter.tryAcquire({ scopes: 's' })).toMatchObject({
          allowed: false,
          retryAfterMs: end + 60_000 - (T + 2100),
        });
      } finally {
        await b.close();
      }
    },
  );
});
