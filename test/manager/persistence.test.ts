import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { MemoryBackend } from '../../src/index.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import type { Sender } from '../../src/manager/options.js';
import { T0 } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-persist-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function make(path: string, clock: FakeClock, sender: Sender<unknown>, extra: Record<string, unknown> = {}) {
  const backend = new SqliteBackend({ path });
  const manager = new RateLimitManager<unknown>({
    backend,
    clock,
    capacity: 10,
    duration: '10s',
    sender,
    ...extra,
  });
  return { backend, manager };
}

describe('RateLimitManager persistence on SQLite', () => {
  it('queue, quota, statuses and dead letters survive a restart', async () => {
    const path = join(dir, 'restart.db');
    const clock = new FakeClock(T0);
    const sent: string[] = [];
    const first = make(
      path,
      clock,
      async (batch) => {
        if (batch[0]!.id === 'bad') throw new Error('permanent', { cause: 'x' });
        sent.push(...batch.map((m) => m.id));
      },
      { retry: { maxAttempts: 1 } },
    );
    for (let i = 0; i < 9; i++) await first.manager.sendOrEnqueue([{ id: `s${i}`, payload: i }], 'critical');
    await first.manager.sendOrEnqueue([{ id: 'bad', payload: { nested: [1, 2] } }], 'critical');
    await settle(5);
    expect(await first.manager.sendOrEnqueue([{ id: 'q1', payload: 'kept' }], 'normal')).toBe('enqueued');
    expect(await first.manager.sendOrEnqueue([{ id: 'q2', payload: 'kept too' }], 'critical')).toBe(
      'enqueued',
    );
    expect(await first.manager.sendOrEnqueue([{ id: 'o', payload: 1 }], 'optional')).toBe('dropped');
    await first.manager.stop();
    await first.backend.close();

    const delivered: unknown[] = [];
    const second = make(path, clock, async (batch) => {
      delivered.push(...batch.map((m) => m.payload));
    });
    expect(await second.manager.getQuota()).toEqual({ remaining: 0, total: 10 });
    expect(await second.manager.getMessageStatus('s3')).toBe('passed-to-sender');
    expect(await second.manager.getMessageStatus('o')).toBe('dropped');
    expect(await second.manager.getMessageStatus('q1')).toBe('enqueued');
    expect(await second.manager.getMessageRecord('bad')).toMatchObject({
      status: 'dead-lettered',
      lastError: 'Error: permanent',
    });
    const letters = await second.manager.deadLetters();
    expect(letters.map((l) => l.messages)).toEqual([[{ id: 'bad', payload: { nested: [1, 2] } }]]);
    await second.manager.start();
    await clock.advance(10_200);
    await settle(5);
    expect(delivered).toEqual(['kept too', 'kept']);
    expect(await second.manager.getMessageStatus('q1')).toBe('passed-to-sender');
    const stats = await second.manager.stats();
    expect(stats.counters).toMatchObject({ delivered: 11, dropped: 1, deadLettered: 1 });
    await second.manager.stop();
    await second.backend.close();
  });

  it('a payload SQLite cannot store is dropped-failed-to-enqueue; nothing else is affected', async () => {
    const clock = new FakeClock(T0);
    const { backend, manager } = make(join(dir, 'bad-payload.db'), clock, async () => {});
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (let i = 0; i < 10; i++) await manager.sendOrEnqueue([{ id: `x${i}`, payload: i }], 'critical');
    expect(await manager.sendOrEnqueue([{ id: 'ok', payload: 1 }], 'normal')).toBe('enqueued');
    expect(await manager.sendOrEnqueue([{ id: 'cyclic', payload: cyclic }], 'normal')).toBe(
      'dropped-failed-to-enqueue',
    );
    expect(await manager.sendOrEnqueue([{ id: 'big', payload: 10n }], 'critical')).toBe(
      'dropped-failed-to-enqueue',
    );
    const record = await manager.getMessageRecord('cyclic');
    expect(record?.status).toBe('dropped-failed-to-enqueue');
    expect(record?.lastError).toMatch(/circular|cyclic|JSON/i);
    expect((await manager.stats()).queued.normal).toBe(1);
    // Quota was not spent on the refused batch sent directly either.
    await clock.advance(10_100);
    expect(await manager.sendOrEnqueue([{ id: 'big2', payload: 10n }], 'critical')).toBe(
      'dropped-failed-to-enqueue',
    );
    expect(await manager.getQuota()).toEqual({ remaining: 10, total: 10 });
    await backend.close();
  });

  it('concurrent offers are written together, yet a bad one fails alone', async () => {
    const clock = new FakeClock(T0);
    const { backend, manager } = make(join(dir, 'concurrent.db'), clock, async () => {});
    for (let i = 0; i < 10; i++) await manager.sendOrEnqueue([{ id: `x${i}`, payload: i }], 'critical');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const results = await Promise.allSettled([
      manager.sendOrEnqueue([{ id: 'a', payload: 1 }], 'normal'),
      manager.sendOrEnqueue([{ id: 'bad', payload: cyclic }], 'normal'),
      manager.sendOrEnqueue([{ id: 'b', payload: 2 }], 'normal'),
      manager.sendOrEnqueue([{ id: 'a', payload: 3 }], 'critical'),
      manager.sendOrEnqueue([{ id: 'c', payload: 4 }], 'critical'),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).name))).toEqual([
      'enqueued',
      'dropped-failed-to-enqueue',
      'enqueued',
      'DuplicateMessageError',
      'enqueued',
    ]);
    expect((await manager.stats()).queued).toEqual({ critical: 1, normal: 2, optional: 0 });
    expect((await manager.getMessageRecord('a'))?.priority).toBe('normal');
    await backend.close();
  });

  it('prunes statuses of finished messages after the retention', async () => {
    const clock = new FakeClock(T0);
    const backend = new MemoryBackend();
    const manager = new RateLimitManager<number>({
      backend,
      clock,
      capacity: 100,
      duration: '1s',
      retention: '1m',
      sender: async () => {},
    });
    await manager.start();
    await manager.sendOrEnqueue([{ id: 'old', payload: 1 }], 'normal');
    await settle(5);
    expect(await manager.getMessageStatus('old')).toBe('passed-to-sender');
    await clock.advance(61_000);
    await clock.advance(61_000);
    expect(await manager.getMessageStatus('old')).toBeUndefined();
    await manager.stop();
  });
});
