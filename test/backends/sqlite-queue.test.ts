/**
 * What only SQLite has to get right: batches in one transaction, held lanes that do not block others,
 * payloads that cannot be stored. (Its semantics are held to the reference model by the model-based suite,
 * test/backends/queue-model.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryQueueStore } from '../../src/backends/memory/queue-store.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import type { Job, JobInput, QueueStats } from '../../src/backends/types.js';
import { BackendError, DuplicateMessageError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-sqlite-queue-'));
let files = 0;
const tmpFile = () => join(dir, `q-${++files}.sqlite`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('SqliteQueueStore', () => {
  it('counts a replayed dead letter once, at its new place (memory and SQLite alike)', async () => {
    const backend = new SqliteBackend({ path: tmpFile() });
    for (const store of [backend.queue('q'), new MemoryQueueStore<unknown>()]) {
      store.add([{ priority: 'critical', lane: '', scopes: [], messages: [{ id: 'a', payload: 1 }] }], 100);
      store.add(
        [
          {
            priority: 'critical',
            lane: '',
            scopes: [],
            messages: [
              { id: 'b', payload: 2 },
              { id: 'c', payload: 3 },
            ],
          },
        ],
        100,
      );
      const claimed = store.claim({
        now: 100,
        owner: 'o',
        leaseUntil: 101,
        maxJobs: 2,
        remaining: 3,
        reserve: 0,
      }) as Job[];
      store.bury({ jobId: claimed[1]!.id, owner: 'o' }, 100, 'dead');
      expect(store.recover(101)).toBe(1);
      expect(store.replay({}, 101)).toBe(1);
      expect((store.stats(101) as QueueStats).queued.critical).toBe(3);
      const again = store.claim({
        now: 101,
        owner: 'o',
        leaseUntil: 200,
        maxJobs: 5,
        remaining: 9,
        reserve: 0,
      }) as Job[];
      expect(again.map((j) => j.messages[0]!.id)).toEqual(['a', 'b']);
    }
    await backend.close();
  });

  it('keeps named queues apart in one file', async () => {
    const backend = new SqliteBackend({ path: tmpFile() });
    const a = backend.queue('a');
    const b = backend.queue('b');
    a.add([{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'm', payload: 1 }] }], 0);
    // The same message id is free in another queue.
    b.add([{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'm', payload: 2 }] }], 0);
    expect(a.stats(0).queued.normal).toBe(1);
    expect(
      b.claim({ now: 0, owner: 'o', leaseUntil: 10, maxJobs: 5, remaining: 5, reserve: 0 }),
    ).toMatchObject([{ messages: [{ id: 'm', payload: 2 }] }]);
    expect(a.stats(0)).toMatchObject({ queued: { normal: 1 }, inFlight: 0 });
    expect(backend.queue('a')).toBe(a);
    await backend.close();
  });

  it('refuses a payload JSON cannot hold and writes nothing of the batch', async () => {
    const backend = new SqliteBackend({ path: tmpFile() });
    const queue = backend.queue('q');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const good = { id: 'ok', payload: 1 };
    for (const bad of [cyclic, undefined, () => 1, 10n]) {
      expect(() =>
        queue.add(
          [
            { priority: 'normal', lane: '', scopes: [], messages: [good] },
            { priority: 'normal', lane: '', scopes: [], messages: [{ id: 'bad', payload: bad }] },
          ],
          0,
        ),
      ).toThrow(BackendError);
    }
    expect(queue.getRecord('ok')).toBeUndefined();
    expect(queue.stats(0).queued.normal).toBe(0);
    // The ids are still free.
    expect(queue.add([{ priority: 'normal', lane: '', scopes: [], messages: [good] }], 0)).toHaveLength(1);
    await backend.close();
  });

  it('a duplicate id anywhere in a batch writes nothing', async () => {
    const backend = new SqliteBackend({ path: tmpFile() });
    const queue = backend.queue('q');
    queue.add([{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'a', payload: 1 }] }], 0);
    const batch = (ids: string[]) => ({
      priority: 'critical' as const,
      lane: '',
      scopes: [],
      messages: ids.map((id) => ({ id, payload: id })),
    });
    expect(() => queue.add([batch(['x', 'y']), batch(['a'])], 1)).toThrow(DuplicateMessageError);
    expect(() => queue.add([batch(['x', 'x'])], 1)).toThrow(DuplicateMessageError);
    expect(queue.getRecord('x')).toBeUndefined();
    expect(queue.stats(1).queued).toEqual({ critical: 0, normal: 1, optional: 0 });
    await backend.close();
  });

  it('a held lane with 10,000 jobs at the head does not stop other lanes', async () => {
    const backend = new SqliteBackend({ path: tmpFile() });
    const queue = backend.queue<number>('q');
    const held: JobInput<number>[] = [];
    for (let i = 0; i < 10_000; i++) {
      held.push({
        priority: 'normal',
        lane: 'chat:1',
        scopes: ['chat:1'],
        messages: [{ id: `h${i}`, payload: i }],
      });
    }
    queue.add(held, 0);
    queue.add(
      [{ priority: 'normal', lane: 'chat:2', scopes: ['chat:2'], messages: [{ id: 'free', payload: 1 }] }],
      0,
    );
    queue.holdLane('chat:1', 60_000);
    expect(queue.hasClaimable('normal', 1)).toBe(true);
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      expect(
        queue.claim({ now: 1, owner: 'o', leaseUntil: 1, maxJobs: 1, remaining: 10, reserve: 0 }),
      ).toHaveLength(i === 0 ? 1 : 0);
    }
    // 100 claims past 10,000 held jobs: an index walk would take seconds.
    expect(performance.now() - started).toBeLessThan(500);
    // When the hold ends, the lane's jobs come back in order.
    const claimed = queue.claim({
      now: 60_000,
      owner: 'o',
      leaseUntil: 70_000,
      maxJobs: 3,
      remaining: 10,
      reserve: 0,
    });
    expect(claimed.map((j) => j.messages[0]!.id)).toEqual(['h0', 'h1', 'h2']);
    await backend.close();
  });

  it('claims and completes thousands of jobs in one transaction each', async () => {
    const backend = new SqliteBackend({ path: tmpFile() });
    const queue = backend.queue<{ n: number }>('q');
    const jobs: JobInput<{ n: number }>[] = [];
    for (let i = 0; i < 5000; i++) {
      jobs.push({ priority: 'normal', lane: '', scopes: [], messages: [{ id: `m${i}`, payload: { n: i } }] });
    }
    queue.add(jobs, 0);
    const claimed = queue.claim({
      now: 0,
      owner: 'o',
      leaseUntil: 100,
      maxJobs: 5000,
      remaining: 1e9,
      reserve: 0,
    });
    expect(claimed).toHaveLength(5000);
    expect(claimed[4999]!.messages[0]).toEqual({ id: 'm4999', payload: { n: 4999 } });
    queue.complete(
      claimed.map((j) => ({ jobId: j.id, owner: 'o' })),
      1,
    );
    expect(queue.stats(1)).toMatchObject({ inFlight: 0, counters: { delivered: 5000 } });
    expect(queue.getRecord('m10')).toMatchObject({ status: 'passed-to-sender', deliveredAt: 1 });
    await backend.close();
  });
});
