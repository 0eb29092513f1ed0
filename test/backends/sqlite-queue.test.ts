/**
 * The SQLite queue must behave exactly like the memory queue (the reference semantics): random operation
 * sequences are replayed on both and every answer compared. Plus what only SQLite has to get right: batches
 * in one transaction, held lanes that do not block others, payloads that cannot be stored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryQueueStore } from '../../src/backends/memory/queue-store.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import type {
  DeadLetterFilter,
  Job,
  JobInput,
  Priority,
  QueueStats,
  QueueStore,
} from '../../src/backends/types.js';
import { BackendError, DuplicateMessageError } from '../../src/core/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-sqlite-queue-'));
let files = 0;
const tmpFile = () => join(dir, `q-${++files}.sqlite`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const priority = fc.constantFrom<Priority>('critical', 'normal', 'optional');
const lane = fc.constantFrom('', 'a', 'b');
const messageId = fc.integer({ min: 1, max: 14 }).map((n) => `m${n}`);
/** A literal job id, or `#k`: the k-th most recently leased job (resolved while the sequence runs). */
const jobId = fc.oneof(
  fc.integer({ min: 1, max: 10 }).map(String),
  fc.integer({ min: 0, max: 3 }).map((k) => `#${k}`),
);

/** Replaces `#k` references by the ids of recently leased jobs. */
function resolve(o: Op, recent: readonly string[]): Op {
  return JSON.parse(JSON.stringify(o), (_key, value: unknown) =>
    typeof value === 'string' && /^#\d$/.test(value) ? (recent[Number(value.slice(1))] ?? '99') : value,
  ) as Op;
}
/** Claims lease under one of two owners; a leased add under 'o1'. Operations name any of them (or a stale one). */
const claimOwner = fc.constantFrom('o2', 'o2', 'o2', 'o3');
const anyOwner = fc.constantFrom('o1', 'o2', 'o2', 'o2', 'o2', 'o3', 'stale');
const payload = fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.record({ n: fc.integer() }));

const jobInput: fc.Arbitrary<JobInput<unknown>> = fc.record({
  priority,
  lane,
  scopes: fc.constantFrom([], ['chat:1'], ['chat:1', 'global']),
  costs: fc.option(fc.constantFrom<Record<string, number>>({ 'chat:1': 2 }, { 'chat:1': 1, global: 3 }), {
    nil: undefined,
  }),
  messages: fc.uniqueArray(fc.record({ id: messageId, payload }), {
    minLength: 1,
    maxLength: 3,
    selector: (m) => m.id,
  }),
});

const filter: fc.Arbitrary<DeadLetterFilter> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        jobIds: fc.array(jobId, { maxLength: 4 }),
        messageIds: fc.array(messageId, { maxLength: 4 }),
        priority,
        lane,
        failedBefore: fc.integer({ min: 0, max: 800 }),
      },
      { requiredKeys: [] },
    ),
  },
);

type Op =
  | { op: 'add'; jobs: JobInput<unknown>[]; lease: boolean }
  | { op: 'record'; ids: string[]; status: 'dropped' | 'dropped-batch-too-large'; priority: Priority }
  | { op: 'hasClaimable'; priority: Priority }
  | { op: 'claim'; maxJobs: number; remaining: number; reserve: number; lease: number; owner: string }
  | { op: 'complete'; ids: string[]; owner: string }
  | { op: 'completeMessages'; id: string; owner: string; mids: string[] }
  | { op: 'release'; id: string; delay: number; failed: boolean; owner: string }
  | { op: 'bury'; id: string; owner: string }
  | { op: 'extend'; ids: string[]; owner: string; until: number }
  | { op: 'recover' }
  | { op: 'holdLane'; lane: string; ms: number }
  | { op: 'getRecord'; id: string }
  | { op: 'stats' }
  | { op: 'deadLetters'; filter: DeadLetterFilter; limit: number }
  | { op: 'replay'; filter: DeadLetterFilter }
  | { op: 'purge'; filter: DeadLetterFilter }
  | { op: 'prune'; back: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      jobs: fc.array(jobInput, { minLength: 1, maxLength: 3 }),
      lease: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('record' as const),
      ids: fc.array(messageId, { maxLength: 2 }),
      status: fc.constantFrom('dropped' as const, 'dropped-batch-too-large' as const),
      priority,
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('hasClaimable' as const), priority }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('claim' as const),
      maxJobs: fc.integer({ min: 0, max: 4 }),
      remaining: fc.integer({ min: 0, max: 8 }),
      reserve: fc.integer({ min: 0, max: 3 }),
      lease: fc.integer({ min: 1, max: 60 }),
      owner: claimOwner,
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('complete' as const),
      ids: fc.array(jobId, { maxLength: 3 }),
      owner: anyOwner,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('completeMessages' as const),
      id: jobId,
      owner: anyOwner,
      mids: fc.array(messageId, { maxLength: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('release' as const),
      id: jobId,
      delay: fc.integer({ min: 0, max: 30 }),
      failed: fc.boolean(),
      owner: anyOwner,
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('bury' as const), id: jobId, owner: anyOwner }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('extend' as const),
      ids: fc.array(jobId, { maxLength: 3 }),
      owner: anyOwner,
      until: fc.integer({ min: 0, max: 400 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('recover' as const) }) },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('holdLane' as const), lane, ms: fc.integer({ min: 0, max: 40 }) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('getRecord' as const), id: messageId }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('stats' as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('deadLetters' as const),
      filter,
      limit: fc.integer({ min: 0, max: 6 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('replay' as const), filter }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('purge' as const), filter }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('prune' as const), back: fc.integer({ min: 0, max: 50 }) }),
  },
);

/** Runs one operation; returns its answer, or the class name of what it threw. */
function apply(store: QueueStore<unknown>, o: Op, now: number): unknown {
  try {
    switch (o.op) {
      case 'add':
        return store.add(o.jobs, now, o.lease ? { owner: 'o1', until: now + 20 } : undefined);
      case 'record':
        return store.record(o.ids, o.status, o.priority, now, 'why');
      case 'hasClaimable':
        return store.hasClaimable(o.priority, now);
      case 'claim':
        return store.claim({
          now,
          owner: o.owner,
          leaseUntil: now + o.lease,
          maxJobs: o.maxJobs,
          remaining: o.remaining,
          reserve: o.reserve,
        });
      case 'complete':
        return store.complete(
          o.ids.map((jobId) => ({ jobId, owner: o.owner })),
          now,
        );
      case 'completeMessages':
        return store.completeMessages({ jobId: o.id, owner: o.owner }, o.mids, now);
      case 'release':
        return store.release({ jobId: o.id, owner: o.owner }, now, {
          notBefore: now + o.delay,
          failed: o.failed,
          error: 'e',
        });
      case 'bury':
        return store.bury({ jobId: o.id, owner: o.owner }, now, 'dead');
      case 'extend':
        return store.extend(
          o.ids.map((jobId) => ({ jobId, owner: o.owner })),
          o.until,
        );
      case 'recover':
        return store.recover(now);
      case 'holdLane':
        return store.holdLane(o.lane, now + o.ms);
      case 'getRecord':
        return store.getRecord(o.id);
      case 'stats':
        return store.stats(now);
      case 'deadLetters':
        return store.deadLetters(o.filter, o.limit);
      case 'replay':
        return store.replay(o.filter, now);
      case 'purge':
        return store.purge(o.filter);
      case 'prune':
        return store.prune(now - o.back, now);
    }
  } catch (error) {
    return { threw: (error as Error).constructor.name };
  }
}

describe('SqliteQueueStore', () => {
  it('answers every random operation sequence exactly like MemoryQueueStore', () => {
    const hits: Record<string, number> = {};
    fc.assert(
      fc.property(
        // Time mostly moves on, and sometimes steps back (a clock set back, another process's clock).
        fc.array(fc.tuple(op, fc.integer({ min: -5, max: 15 })), { minLength: 20, maxLength: 80 }),
        (steps) => {
          const backend = new SqliteBackend({ path: tmpFile() });
          try {
            const sqlite = backend.queue('diff');
            const memory = new MemoryQueueStore<unknown>();
            let now = 100;
            const recent: string[] = [];
            for (const [step, dt] of steps) {
              now += dt;
              const o = resolve(step, recent);
              const expected = apply(memory, o, now);
              if ((o.op === 'claim' || (o.op === 'add' && o.lease)) && Array.isArray(expected)) {
                for (const job of expected as Job[]) recent.unshift(job.id);
              }
              expect(apply(sqlite, o, now), JSON.stringify(o)).toEqual(expected);
              if (Array.isArray(expected) && expected.length > 0) hits[o.op] = (hits[o.op] ?? 0) + 1;
            }
            expect(sqlite.stats(now)).toEqual(memory.stats(now));
          } finally {
            void backend.close();
          }
        },
      ),
      { numRuns: Number(process.env.RK_FC_RUNS ?? 150) },
    );
    // The sequences really exercise the store (not only refusals and empty answers).
    expect(hits.claim).toBeGreaterThan(100);
    expect(hits.deadLetters).toBeGreaterThan(10);
  });

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
