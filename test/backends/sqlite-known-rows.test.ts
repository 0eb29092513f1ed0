import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { FakeClock } from '../../src/core/clock.js';
import type { AlgorithmName } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

// A store decides a single-rule request on a row it has seen before from what it remembers of that row,
// and writes the result only if the row still holds exactly that (see KnownRow in limit-store.ts). Two
// backends on one file stand for two processes: every write of one must be seen by the other's next
// decision, whatever the path that wrote it.

const dirs: string[] = [];
const backends: SqliteBackend[] = [];

afterEach(async () => {
  for (const b of backends.splice(0)) await b.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function pair(algorithm: AlgorithmName, limit = 10) {
  const dir = mkdtempSync(join(tmpdir(), 'rk-known-'));
  dirs.push(dir);
  const file = join(dir, 'limits.db');
  const clock = new FakeClock(1_700_000_000_000);
  const make = () => {
    const backend = new SqliteBackend({ path: file });
    backends.push(backend);
    return new RateLimiter({ backend, clock, scopes: { 'chat:*': { limit, window: 60_000, algorithm } } });
  };
  return { a: make(), b: make(), clock };
}

const algorithms: AlgorithmName[] = ['fixed-window', 'sliding-window', 'token-bucket', 'anchored-window'];

describe.each(algorithms)('SQLite remembered rows (%s)', (algorithm) => {
  it('two stores taking turns on one key admit the limit in all, not the limit each', async () => {
    const { a, b, clock } = pair(algorithm);
    let admitted = 0;
    for (let i = 0; i < 30; i++) {
      const limiter = i % 2 === 0 ? a : b;
      if ((await limiter.tryAcquire({ scopes: 'chat:1' })).allowed) admitted++;
      await clock.advance(1);
    }
    expect(admitted).toBe(10);
  });

  it('sees the other store’s charges made through group commits, adjustments and many-request calls', async () => {
    const { a, b } = pair(algorithm);
    for (let i = 0; i < 3; i++) expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    // b charges 6 more in three different ways; a remembers the row at 3 used.
    await b.adjust({ scopes: 'chat:1', delta: 2 });
    await b.tryAcquireMany([{ scopes: 'chat:1' }, { scopes: 'chat:1' }]);
    // Two calls in one tick: one group commit (decideMany).
    const tick = await Promise.all([b.tryAcquire({ scopes: 'chat:1' }), b.tryAcquire({ scopes: 'chat:1' })]);
    expect(tick.map((d) => d.allowed)).toEqual([true, true]);
    // 9 used: one left.
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(false);
  });

  it('a group commit of its own store after a remembered write is seen by the next single decision', async () => {
    const { a } = pair(algorithm, 4);
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    const tick = await Promise.all([a.tryAcquire({ scopes: 'chat:1' }), a.tryAcquire({ scopes: 'chat:1' })]);
    expect(tick.map((d) => d.allowed)).toEqual([true, true]);
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(false);
  });

  it('a refusal it remembers is checked against the row: a refund elsewhere admits again', async () => {
    const { a, b } = pair(algorithm, 3);
    for (let i = 0; i < 3; i++) expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(false);
    await b.adjust({ scopes: 'chat:1', delta: -1 });
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(false);
  });

  it('a block set by the other store refuses a row it remembers as free', async () => {
    const { a, b, clock } = pair(algorithm);
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    await b.block('chat:1', 5_000);
    const refused = await a.tryAcquire({ scopes: 'chat:1' });
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBe(5_000);
    await clock.advance(5_000);
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
  });

  it('a reset by the other store starts the key over (its row is gone)', async () => {
    const { a, b } = pair(algorithm, 2);
    for (let i = 0; i < 2; i++) expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    await b.reset('chat:1');
    for (let i = 0; i < 2; i++) expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    expect((await a.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(false);
    expect((await b.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(false);
  });
});

describe('SQLite remembered rows, bounded', () => {
  it('a remembered row holds its own few bytes, not a block of the shared Buffer pool', async () => {
    // A real process with --expose-gc: other code's small Buffers between two rows' writes would leave
    // each remembered slice of the pool holding its whole 8 KiB block.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', 'test/fixtures/sqlite-known-memory.ts', '3000', '600'],
      { timeout: 60_000 },
    );
    const { remembered, bytesPerRow } = JSON.parse(stdout.trim()) as {
      remembered: number;
      bytesPerRow: number;
    };
    expect(remembered).toBe(3001);
    expect(bytesPerRow).toBeLessThan(256);
  }, 60_000);

  it('remembers at most 32,768 rows, and a forgotten key is still decided exactly', async () => {
    const { a, b } = pair('fixed-window', 2);
    const store = a.backend.limits as unknown as { rememberedRows: number };
    const keys = 40_000;
    for (let i = 0; i < keys; i++) await a.tryAcquire({ scopes: `chat:${i}` });
    expect(store.rememberedRows).toBe(32_768);
    // chat:0 was forgotten first; b takes its last unit; a must see it.
    expect((await b.tryAcquire({ scopes: 'chat:0' })).allowed).toBe(true);
    expect((await a.tryAcquire({ scopes: 'chat:0' })).allowed).toBe(false);
    // chat:39999 is remembered: same answer through the remembered path.
    expect((await b.tryAcquire({ scopes: 'chat:39999' })).allowed).toBe(true);
    expect((await a.tryAcquire({ scopes: 'chat:39999' })).allowed).toBe(false);
  }, 60_000);
});

describe('SQLite remembered rows, a rule changing its algorithm', () => {
  // A row's BLOB ends with the code of the algorithm that wrote it (state-codec.ts). Aligned to the minute,
  // so that a fixed and an anchored window can hold the very same numbers.
  const T0 = 1_699_999_980_000;

  function file(): string {
    const dir = mkdtempSync(join(tmpdir(), 'rk-known-'));
    dirs.push(dir);
    return join(dir, 'limits.db');
  }
  function limiter(path: string, clock: FakeClock, algorithm: AlgorithmName): RateLimiter {
    const backend = new SqliteBackend({ path });
    backends.push(backend);
    return new RateLimiter({ backend, clock, scopes: { k: { limit: 5, window: 60_000, algorithm } } });
  }
  const used = async (l: RateLimiter) => (await l.stats('k'))[0]!.used;

  it('define() with another algorithm does not decide on the state remembered for the old one', async () => {
    const clock = new FakeClock(T0);
    const a = limiter(file(), clock, 'fixed-window');
    for (let i = 0; i < 2; i++) expect((await a.tryAcquire({ scopes: 'k' })).allowed).toBe(true);
    // The row is as remembered: [T0, 2], which an anchored window would take for two units of its own.
    a.define('k', { limit: 5, window: 60_000, algorithm: 'anchored-window' });
    expect(await a.tryAcquire({ scopes: 'k' })).toMatchObject({ allowed: true, remaining: 4 });
    expect(await used(a)).toBe(1);
  });

  it('a row rewritten by another algorithm with the very same numbers is not the row remembered', async () => {
    const path = file();
    const clock = new FakeClock(T0);
    const fixed = limiter(path, clock, 'fixed-window');
    const anchored = limiter(path, clock, 'anchored-window');
    expect((await fixed.tryAcquire({ scopes: 'k' })).allowed).toBe(true); // [T0, 1], fixed
    expect((await anchored.tryAcquire({ scopes: 'k' })).allowed).toBe(true); // [T0, 1], anchored
    // The fixed store remembers [T0, 1]: the row holds those numbers, but not its algorithm's state.
    expect(await fixed.tryAcquire({ scopes: 'k' })).toMatchObject({ allowed: true, remaining: 4 });
    expect(await used(fixed)).toBe(1);
    expect(await used(anchored)).toBe(0);
  });
});
