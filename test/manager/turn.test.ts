import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { DuplicateMessageError } from '../../src/core/errors.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { T0 } from './harness.js';

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
});
