/**
 * Stored states record the algorithm that wrote them (SQLite: the BLOB's last byte, state-codec.ts). Checked
 * here: states written before they carried their algorithm (the bytes below are what ratekeeper wrote up to
 * commit ded400b, dumped from it) are still read as their own rule's, and are never misread by another
 * algorithm when their shape tells them apart; an earlier version sharing a SQLite file still reads the new
 * BLOBs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { decodeState } from '../../src/backends/sqlite/state-codec.js';
import type { Backend } from '../../src/backends/types.js';
import { FakeClock } from '../../src/core/clock.js';
import type { AlgorithmName } from '../../src/core/types.js';
import { compileRule } from '../../src/engine/rules.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

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
