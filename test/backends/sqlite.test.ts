import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { SCHEMA_VERSION } from '../../src/backends/sqlite/schema.js';
import type { JobInput } from '../../src/backends/types.js';
import { FakeClock } from '../../src/core/clock.js';
import { BackendError, ClosedError, InvalidArgumentError, NotADatabaseError } from '../../src/core/errors.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-sqlite-'));
let files = 0;
const tmpFile = () => join(dir, `db-${++files}.sqlite`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_700_000_000_000;

function job(
  ids: string[],
  priority: JobInput['priority'] = 'normal',
  lane = '',
): JobInput<{ text: string }> {
  return {
    priority,
    lane,
    scopes: lane ? [lane] : [],
    messages: ids.map((id) => ({ id, payload: { text: id } })),
  };
}

describe('SqliteBackend', () => {
  it('opens a new file in WAL mode with the rk_ schema', async () => {
    const path = tmpFile();
    const backend = new SqliteBackend({ path });
    expect(backend.kind).toBe('sqlite');
    expect(backend.limits.sync).toBe(true);
    expect(backend.path).toBe(path);
    await backend.close();
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'rk\\_%' ESCAPE '\\' ORDER BY name",
      )
      .pluck()
      .all();
    expect(tables).toEqual([
      'rk_job',
      'rk_lane_hold',
      'rk_limit_block',
      'rk_limit_state',
      'rk_meta',
      'rk_queue',
      'rk_record',
    ]);
    expect(db.prepare("SELECT value FROM rk_meta WHERE key = 'schema_version'").pluck().get()).toBe(
      String(SCHEMA_VERSION),
    );
    db.close();
  });

  it('keeps limits, blocks, queues, records, dead letters and counters across close and reopen', async () => {
    const path = tmpFile();
    const clock = new FakeClock(T0);
    const scopes = { 'chat:*': { limit: 3, window: '1h' } } as const;
    let backend = new SqliteBackend({ path });
    let limiter = new RateLimiter({ backend, clock, scopes });
    for (let i = 0; i < 3; i++) expect((await limiter.tryAcquire({ scopes: 'chat:1' })).allowed).toBe(true);
    await limiter.block('chat:2', '10m');
    let queue = backend.queue<{ text: string }>('deliveries');
    queue.add([job(['a', 'b']), job(['c'], 'critical'), job(['d']), job(['e'], 'optional')], T0);
    queue.record(['x'], 'dropped', 'optional', T0);
    const [critical, first] = queue.claim({
      now: T0,
      owner: 'me',
      leaseUntil: T0 + 60_000,
      maxJobs: 2,
      remaining: 10,
      reserve: 0,
    });
    queue.complete([{ jobId: critical!.id, owner: 'me' }], T0 + 1);
    queue.release({ jobId: first!.id, owner: 'me' }, T0 + 2, {
      notBefore: T0 + 5_000,
      failed: true,
      error: 'HTTP 500',
    });
    const [third] = queue.claim({
      now: T0 + 3,
      owner: 'me',
      leaseUntil: T0 + 60_000,
      maxJobs: 1,
      remaining: 10,
      reserve: 0,
    });
    queue.bury({ jobId: third!.id, owner: 'me' }, T0 + 4, 'HTTP 400');
    const stats = queue.stats(T0 + 4);
    await backend.close();

    backend = new SqliteBackend({ path });
    limiter = new RateLimiter({ backend, clock, scopes });
    const refused = await limiter.tryAcquire({ scopes: 'chat:1' });
    expect(refused).toMatchObject({ allowed: false, blockedBy: { scope: 'chat:1' } });
    expect(await limiter.tryAcquire({ scopes: 'chat:2' })).toMatchObject({
      allowed: false,
      retryAfterMs: 600_000,
      blockedBy: { scope: 'chat:2', rule: 'block' },
    });
    queue = backend.queue<{ text: string }>('deliveries');
    expect(queue.stats(T0 + 4)).toEqual(stats);
    expect(stats).toEqual({
      queued: { critical: 0, normal: 0, optional: 1 },
      retrying: 2,
      inFlight: 0,
      deadLettered: 1,
      counters: { delivered: 1, dropped: 1, deadLettered: 1, retried: 1, stale: 0 },
    });
    expect(queue.getRecord('a')).toMatchObject({ status: 'retrying', attempts: 1, lastError: 'HTTP 500' });
    expect(queue.getRecord('c')).toMatchObject({ status: 'passed-to-sender', deliveredAt: T0 + 1 });
    expect(queue.getRecord('x')).toMatchObject({ status: 'dropped', priority: 'optional' });
    expect(queue.deadLetters()).toMatchObject([
      {
        id: third!.id,
        messages: [{ id: 'd', payload: { text: 'd' } }],
        lastError: 'HTTP 400',
        failedAt: T0 + 4,
      },
    ]);
    // The retried batch kept its place in line: it comes before the optional one once due.
    const next = queue.claim({
      now: T0 + 5_000,
      owner: 'me',
      leaseUntil: T0 + 9_000,
      maxJobs: 5,
      remaining: 10,
      reserve: 0,
    });
    expect(next.map((j) => j.messages.map((m) => m.id))).toEqual([['a', 'b'], ['e']]);
    await backend.close();
  });

  it('returns expired leases after a crash (the file outlives the process)', async () => {
    const path = tmpFile();
    let backend = new SqliteBackend({ path });
    backend.queue('q').add([job(['a'])], T0);
    backend
      .queue('q')
      .claim({ now: T0, owner: 'dead', leaseUntil: T0 + 1000, maxJobs: 1, remaining: 10, reserve: 0 });
    await backend.close();
    backend = new SqliteBackend({ path });
    const queue = backend.queue('q');
    expect(queue.recover(T0 + 999)).toBe(0);
    expect(queue.recover(T0 + 1000)).toBe(1);
    expect(queue.getRecord('a')).toMatchObject({ status: 'enqueued' });
    expect(
      queue.claim({
        now: T0 + 1000,
        owner: 'me',
        leaseUntil: T0 + 2000,
        maxJobs: 1,
        remaining: 10,
        reserve: 0,
      }),
    ).toHaveLength(1);
    await backend.close();
  });

  describe('a file that is not a SQLite database', () => {
    const cases: Array<[string, Buffer]> = [
      ['text', Buffer.from('name,limit\nglobal,30\n'.repeat(200))],
      ['a short file', Buffer.from('SQLite')],
      ['a header off by one byte', Buffer.concat([Buffer.from('SQLite format 4\0'), Buffer.alloc(4080, 7)])],
    ];
    for (const [name, bytes] of cases) {
      it(`${name}: NotADatabaseError, and the file is byte-for-byte untouched`, () => {
        const path = tmpFile();
        writeFileSync(path, bytes);
        let error: unknown;
        try {
          new SqliteBackend({ path });
        } catch (e) {
          error = e;
        }
        expect(error).toBeInstanceOf(NotADatabaseError);
        expect(error).toMatchObject({ code: 'ERR_NOT_A_DATABASE', path });
        expect(readFileSync(path).equals(bytes)).toBe(true);
        expect(existsSync(`${path}-wal`)).toBe(false);
        expect(existsSync(`${path}-shm`)).toBe(false);
        expect(existsSync(`${path}-journal`)).toBe(false);
      });
    }

    it('a directory: NotADatabaseError', () => {
      const path = join(dir, `folder-${++files}`);
      mkdirSync(path);
      expect(() => new SqliteBackend({ path })).toThrow(NotADatabaseError);
    });

    it('an empty file becomes a database', async () => {
      const path = tmpFile();
      writeFileSync(path, '');
      const backend = new SqliteBackend({ path });
      expect(backend.queue('q').add([job(['a'])], T0)).toHaveLength(1);
      await backend.close();
    });
  });

  it('refuses a database written by a newer schema version, with a clear error, and changes nothing', async () => {
    const path = tmpFile();
    await new SqliteBackend({ path }).close();
    const db = new Database(path);
    db.prepare("UPDATE rk_meta SET value = '99' WHERE key = 'schema_version'").run();
    db.close();
    const before = readFileSync(path);
    expect(() => new SqliteBackend({ path })).toThrow(NotADatabaseError);
    expect(() => new SqliteBackend({ path })).toThrow(
      new RegExp(`newer ratekeeper \\(schema version 99; this version knows up to ${SCHEMA_VERSION}\\)`),
    );
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('migrates once: reopening keeps the version and the data', async () => {
    const path = tmpFile();
    const a = new SqliteBackend({ path });
    a.queue('q').add([job(['a'])], T0);
    // A second backend on the same file (as another process would) sees the same schema and data.
    const b = new SqliteBackend({ path });
    expect(b.queue('q').getRecord('a')).toMatchObject({ status: 'enqueued' });
    await a.close();
    await b.close();
  });

  describe('{ database }', () => {
    it('works inside the caller’s database, next to their tables, and close() leaves it open', async () => {
      const db = new Database(tmpFile());
      db.exec(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada')",
      );
      const backend = new SqliteBackend({ database: db });
      const clock = new FakeClock(T0);
      const limiter = new RateLimiter({ backend, clock, scopes: { global: { limit: 1, window: '1s' } } });
      expect(limiter.tryAcquireSync({ scopes: 'global' }).allowed).toBe(true);
      expect(limiter.tryAcquireSync({ scopes: 'global' }).allowed).toBe(false);
      backend.queue('q').add([job(['a'])], T0);
      await backend.close();
      await backend.close(); // idempotent
      expect(db.open).toBe(true);
      expect(db.prepare('SELECT name FROM users').pluck().all()).toEqual(['ada']);
      expect(db.prepare('SELECT count(*) FROM rk_job').pluck().get()).toBe(1);
      // The backend itself is closed.
      expect(() => backend.queue('q').stats(T0)).toThrow(ClosedError);
      expect(() => limiter.tryAcquireSync({ scopes: 'global' })).toThrow(ClosedError);
      db.close();
    });

    it('an in-memory database works too', async () => {
      const db = new Database(':memory:');
      const backend = new SqliteBackend({ database: db });
      expect(backend.queue('q').add([job(['a'])], T0)).toHaveLength(1);
      await backend.close();
      db.close();
    });
  });

  it('turns database failures at run time into BackendError with the cause', async () => {
    const db = new Database(tmpFile());
    const backend = new SqliteBackend({ database: db });
    const limiter = new RateLimiter({ backend, scopes: { global: { limit: 1, window: '1s' } } });
    db.exec('DROP TABLE rk_limit_state');
    let error: unknown;
    try {
      limiter.tryAcquireSync({ scopes: 'global' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).message).toMatch(/decide/);
    expect((error as BackendError).cause).toBeInstanceOf(Database.SqliteError);
    await backend.close();
    db.close();
  });

  it('validates its options', () => {
    expect(() => new SqliteBackend({})).toThrow(InvalidArgumentError);
    expect(() => new SqliteBackend({ path: tmpFile(), database: new Database(':memory:') })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new SqliteBackend({ path: '' })).toThrow(InvalidArgumentError);
    expect(() => new SqliteBackend({ path: tmpFile(), busyTimeout: -1 })).toThrow(InvalidArgumentError);
    const closed = new Database(':memory:');
    closed.close();
    expect(() => new SqliteBackend({ database: closed })).toThrow(InvalidArgumentError);
    // @ts-expect-error: not an options object
    expect(() => new SqliteBackend(null)).toThrow(InvalidArgumentError);
  });

  it('sweeps idle state rows and expired blocks, a few hundred at a time', async () => {
    const backend = new SqliteBackend({ path: tmpFile() });
    const clock = new FakeClock(T0);
    const limiter = new RateLimiter({ backend, clock, scopes: { 'k:*': { limit: 1, window: '1s' } } });
    for (let i = 0; i < 2000; i++) limiter.tryAcquireSync({ scopes: `k:${i}` });
    await limiter.block(['k:0', 'k:1'], '1s');
    expect(backend.limits.size).toBe(2000);
    expect([...backend.limits.blocks(clock.now()).keys()]).toEqual(['k:0', 'k:1']);
    await clock.advance(1_000);
    // Still in use: nothing idle yet.
    for (let i = 0; i < 1024; i++) limiter.tryAcquireSync({ scopes: 'k:hot' });
    expect(backend.limits.size).toBe(2001);
    await clock.advance(10_000);
    const counts: number[] = [];
    for (let round = 0; round < 12; round++) {
      for (let i = 0; i < 1024; i++) limiter.tryAcquireSync({ scopes: 'k:hot' });
      counts.push(backend.limits.size);
    }
    // A few hundred rows per sweep, until only the live key remains.
    expect(counts[0]).toBeLessThan(2001);
    expect(counts[0]).toBeGreaterThan(1500);
    expect(counts.at(-1)).toBe(1);
    const raw = new Database(backend.path, { readonly: true });
    expect(raw.prepare('SELECT count(*) FROM rk_limit_block').pluck().get()).toBe(0);
    raw.close();
    await backend.close();
  });

  it('decides the tryAcquire calls of one tick in one transaction, in call order', async () => {
    const backend = new SqliteBackend({ path: tmpFile() });
    const clock = new FakeClock(T0);
    const limiter = new RateLimiter({
      backend,
      clock,
      scopes: { 'chat:*': { limit: 5, window: '1s' }, global: { limit: 8, window: '1s' } },
    });
    // Spies on the real store: which calls reach SQLite, each one transaction.
    const many = vi.spyOn(backend.limits, 'decideMany');
    const one = vi.spyOn(backend.limits, 'decide');
    // 12 callers at once (as requests of a server): chat:a fills at 5, global at 8.
    const scopes = Array.from({ length: 12 }, (_, i) =>
      i % 2 === 0 ? ['global', 'chat:a'] : ['global', 'chat:b'],
    );
    const decisions = await Promise.all(scopes.map((s) => limiter.tryAcquire({ scopes: s })));
    expect(decisions.map((d) => d.allowed)).toEqual([
      ...[true, true, true, true, true, true, true, true],
      ...[false, false, false, false],
    ]);
    expect(decisions[8]!.blockedBy).toMatchObject({ scope: 'global' });
    expect(many).toHaveBeenCalledTimes(1);
    expect(many.mock.calls[0]![0]).toHaveLength(12);
    expect(one).not.toHaveBeenCalled();
    // A lone caller is decided on its own, committed before it sees the answer.
    await limiter.tryAcquire({ scopes: 'chat:c' });
    expect(one).toHaveBeenCalledTimes(1);
    expect(many).toHaveBeenCalledTimes(1);
    const other = new SqliteBackend({ path: backend.path! });
    const reader = new RateLimiter({
      backend: other,
      clock,
      scopes: { 'chat:*': { limit: 5, window: '1s' } },
    });
    expect((await reader.stats('chat:c'))[0]!.used).toBe(1);
    expect((await reader.stats('chat:a'))[0]!.used).toBe(4);
    await other.close();
    await backend.close();
  });

  it('fails every call of a tick whose group commit fails, and the next tick works', async () => {
    const db = new Database(tmpFile());
    const backend = new SqliteBackend({ database: db });
    const limiter = new RateLimiter({ backend, scopes: { '*': { limit: 10, window: '1s' } } });
    db.exec('ALTER TABLE rk_limit_state RENAME TO rk_limit_state_away');
    const results = await Promise.allSettled([1, 2, 3].map((i) => limiter.tryAcquire({ scopes: `s${i}` })));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(BackendError);
    db.exec('ALTER TABLE rk_limit_state_away RENAME TO rk_limit_state');
    const again = await Promise.all([1, 2].map((i) => limiter.tryAcquire({ scopes: `s${i}` })));
    expect(again.map((d) => d.allowed)).toEqual([true, true]);
    await backend.close();
    db.close();
  });
});
