/**
 * SQLite schema versions: a v1 file (the schema before fenced leases and partial outcomes) migrates and
 * keeps its queue; a v1 writer still running on a migrated file is tolerated (its jobs have no records
 * span: the schema fills it in); and a process running this code refuses to go on, clearly, once a newer
 * ratekeeper has migrated the file under it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/backends/sqlite/schema.js';
import { NotADatabaseError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-sqlite-migration-'));
let files = 0;
const tmpFile = () => join(dir, `db-${++files}.sqlite`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.useRealTimers());

const T0 = 1_700_000_000_000;
/** The columns of rk_job a v1 writer names (no span). */
const V1_JOB = `queue, state, priority, seq, lane, scopes, costs, ids, payloads, size, first_rid, attempts,
  enqueued_at, not_before, last_error, owner, lease_until, failed_at`;
const claimAll = { now: T0, owner: 'w', leaseUntil: T0 + 10_000, maxJobs: 10, remaining: 100, reserve: 0 };

describe('SQLite schema versions', () => {
  it('a v1 file migrates to the current schema and keeps its queue working', async () => {
    const path = tmpFile();
    const db = new Database(path);
    db.exec('CREATE TABLE rk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID');
    db.exec(MIGRATIONS[0]!);
    db.prepare("INSERT INTO rk_meta VALUES ('schema_version', '1')").run();
    // A queued two-message job as v1 wrote it.
    const queue = Number(
      db.prepare("INSERT INTO rk_queue (name, next_seq) VALUES ('q', 1)").run().lastInsertRowid,
    );
    const job = Number(
      db
        .prepare(
          `INSERT INTO rk_job (queue, state, priority, seq, lane, scopes, ids, payloads, size, first_rid,
             enqueued_at, not_before) VALUES (?, 0, 1, 1, '', '[]', '["a","b"]', '["pa","pb"]', 2, 1, ?, ?)`,
        )
        .run(queue, T0, T0).lastInsertRowid,
    );
    const record = db.prepare(
      `INSERT INTO rk_record (rid, queue, id, status, priority, attempts, created_at, updated_at, job_id)
         VALUES (?, ?, ?, 'enqueued', 1, 0, ?, ?, ?)`,
    );
    record.run(1, queue, 'a', T0, T0, job);
    record.run(2, queue, 'b', T0, T0, job);
    db.close();

    const backend = new SqliteBackend({ path });
    const check = new Database(path, { readonly: true });
    expect(
      Number(check.prepare("SELECT value FROM rk_meta WHERE key = 'schema_version'").pluck().get()),
    ).toBe(SCHEMA_VERSION);
    check.close();
    const q = backend.queue<string>('q');
    const [claimed] = q.claim(claimAll);
    expect(claimed!.messages).toEqual([
      { id: 'a', payload: 'pa' },
      { id: 'b', payload: 'pb' },
    ]);
    expect(q.getRecord('b')).toMatchObject({ status: 'passed-to-sender' });
    expect(q.completeMessages({ jobId: claimed!.id, owner: 'w' }, ['a'], T0 + 1)).toBe(true);
    expect(q.complete([{ jobId: claimed!.id, owner: 'w' }], T0 + 2)).toBe(1);
    expect(q.getRecord('a')).toMatchObject({ status: 'passed-to-sender', deliveredAt: T0 + 1 });
    expect(q.getRecord('b')).toMatchObject({ status: 'passed-to-sender', deliveredAt: T0 + 2 });
    await backend.close();
  });

  it('tolerates a v1 writer still running on the migrated file: its jobs get their records span', async () => {
    const path = tmpFile();
    const backend = new SqliteBackend({ path });
    const q = backend.queue<string>('q');
    q.add([{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'x', payload: 'px' }] }], T0);
    // The same job written again the way v1 code writes it: an INSERT that does not name span.
    const db = new Database(path);
    db.transaction(() => {
      const old = db.prepare('SELECT id FROM rk_job').pluck().get();
      const copy = db
        .prepare(`INSERT INTO rk_job (${V1_JOB}) SELECT ${V1_JOB} FROM rk_job WHERE id = ?`)
        .run(old);
      db.prepare('UPDATE rk_record SET job_id = ? WHERE job_id = ?').run(copy.lastInsertRowid, old);
      db.prepare('DELETE FROM rk_job WHERE id = ?').run(old);
    })();
    db.close();
    const [claimed] = q.claim(claimAll);
    expect(claimed!.messages).toEqual([{ id: 'x', payload: 'px' }]);
    expect(q.getRecord('x')).toMatchObject({ status: 'passed-to-sender' });
    expect(q.complete([{ jobId: claimed!.id, owner: 'w' }], T0 + 1)).toBe(1);
    expect(q.getRecord('x')).toMatchObject({ deliveredAt: T0 + 1 });
    await backend.close();
  });

  it('a process running this code stops, with a clear error, once a newer ratekeeper migrated the file', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const path = tmpFile();
    const backend = new SqliteBackend({ path });
    const q = backend.queue<string>('q');
    q.add([{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'y', payload: 'py' }] }], T0);
    // A newer ratekeeper opens the file and migrates it (a schema change and a higher version).
    const newer = new Database(path);
    newer.exec('CREATE TABLE rk_future (x INTEGER)');
    newer
      .prepare("UPDATE rk_meta SET value = ? WHERE key = 'schema_version'")
      .run(String(SCHEMA_VERSION + 1));
    newer.close();
    vi.setSystemTime(Date.now() + 1_500); // the schema is looked at again at most once a second
    const message = `newer ratekeeper migrated it to schema version ${SCHEMA_VERSION + 1}`;
    expect(() => q.getRecord('y')).toThrow(NotADatabaseError);
    expect(() => q.claim(claimAll)).toThrow(message);
    expect(() => backend.queue('other')).toThrow(message);
    await backend.close();
  });
});
