import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { DuplicateMessageError } from '../../src/core/errors.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { T0 } from './harness.js';

/**
 * Commits recorded in a SQLite WAL file so far (frames whose header names a database size: the last frame
 * of each commit), counting only frames of the WAL's current generation (their salts match the header's).
 */
function walCommits(path: string): number {
  const wal = readFileSync(`${path}-wal`);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salt1 || wal.readUInt32BE(at + 12) !== salt2) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

/** On SQLite the offers of one loop turn share one transaction, each in its own savepoint. */
describe('RateLimitManager on SQLite: offers of one turn', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('a duplicate id fails only its own offer, and its charge is undone with its write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rk-turn-'));
    dirs.push(dir);
    const backend = new SqliteBackend({ path: join(dir, 'rk.db') });
    const sent: string[] = [];
    const manager = new RateLimitManager<string>({
      backend,
      clock: new FakeClock(T0),
      capacity: 10,
      duration: '1m',
      sender: async (batch) => {
        sent.push(...batch.map((m) => m.id));
      },
    });
    await manager.start();
    try {
      // Same turn: a, then a again (a duplicate of a write not committed yet), then b and c.
      const offers = await Promise.allSettled([
        manager.sendOrEnqueue([{ id: 'a', payload: '1' }]),
        manager.sendOrEnqueue([{ id: 'a', payload: '2' }]),
        manager.sendOrEnqueue([
          { id: 'b', payload: '3' },
          { id: 'c', payload: '4' },
        ]),
      ]);
      expect(offers[0]).toEqual({ status: 'fulfilled', value: 'passed-to-sender' });
      expect(offers[1]).toMatchObject({ status: 'rejected' });
      expect((offers[1] as PromiseRejectedResult).reason).toBeInstanceOf(DuplicateMessageError);
      expect(offers[2]).toEqual({ status: 'fulfilled', value: 'passed-to-sender' });
      // Three messages charged, not four: the duplicate's decision was rolled back with its job.
      expect(await manager.getQuota()).toEqual({ remaining: 7, total: 10 });
      await settle(5);
      expect(sent.sort()).toEqual(['a', 'b', 'c']);
      expect((await manager.getMessageRecord('a'))?.status).toBe('passed-to-sender');
    } finally {
      await manager.stop();
      await backend.close();
    }
  });

  it('each offer of a turn reads the quota after the charges of the offers before it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rk-turn-'));
    dirs.push(dir);
    const backend = new SqliteBackend({ path: join(dir, 'rk.db') });
    const manager = new RateLimitManager<string>({
      backend,
      clock: new FakeClock(T0),
      capacity: 10,
      duration: '1m',
      lowQuotaThreshold: 0.5, // low from 5 left: normal messages wait, critical ones still go
      sender: () => {},
    });
    await manager.start();
    try {
      const offers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => manager.sendOrEnqueue([{ id: `n${i}`, payload: 'x' }])),
      );
      // 10, 9, 8, 7, 6 left when the first five read: sent; the sixth reads 5 (low): queued, as all after it.
      expect(offers).toEqual([...Array(5).fill('passed-to-sender'), ...Array(5).fill('enqueued')]);
      expect((await manager.getQuota()).remaining).toBe(5);
    } finally {
      await manager.stop();
      await backend.close();
    }
  });

  it("a delivery recorded while a turn's offers arrive shares their commit", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rk-turn-'));
    dirs.push(dir);
    const path = join(dir, 'rk.db');
    const backend = new SqliteBackend({ path });
    const sent: string[] = [];
    const manager = new RateLimitManager<string>({
      backend,
      clock: new FakeClock(T0),
      capacity: 10,
      duration: '1m',
      sender: async (batch) => {
        sent.push(...batch.map((m) => m.id));
      },
    });
    await manager.start();
    try {
      expect(await manager.sendOrEnqueue([{ id: 'a', payload: '1' }])).toBe('passed-to-sender');
      // a is in the sender, which has answered by the next microtasks; b arrives in the same turn.
      for (let i = 0; i < 10; i++) await Promise.resolve();
      expect(sent).toEqual(['a']);
      const before = walCommits(path);
      expect(await manager.sendOrEnqueue([{ id: 'b', payload: '2' }])).toBe('passed-to-sender');
      // One commit: b's offer and a's delivery (two commits before: one per turn, one per flush).
      expect(walCommits(path) - before).toBe(1);
      const a = await manager.getMessageRecord('a');
      expect(a?.deliveredAt).not.toBeNull();
      await settle(5);
      expect(sent).toEqual(['a', 'b']);
      expect((await manager.stats()).counters.delivered).toBe(2);
    } finally {
      await manager.stop();
      await backend.close();
    }
  });
});
