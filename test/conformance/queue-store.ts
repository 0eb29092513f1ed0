// Past 400 lines on purpose: one test per promise of the QueueStore contract, in one suite that every
// backend runs unchanged; split up, the contract would no longer read as a whole.
/**
 * The QueueStore conformance suite: every backend (memory, SQLite, Redis) must pass it unchanged.
 *
 * Usage, in a backend's test file:
 * ```ts
 * describeQueueStoreConformance('sqlite', () => new SqliteBackend({ path: tmpFile() }));
 * ```
 * Each test gets a fresh backend and closes it afterwards. Only the {@link QueueStore} interface is used and
 * every call is awaited. Job ids are opaque strings: nothing here assumes their format.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type {
  Backend,
  ClaimQuery,
  Job,
  JobInput,
  LeaseRef,
  Priority,
  QueueStore,
} from '../../src/backends/types.js';
import { isRateKeeperError } from '../../src/core/errors.js';

interface Payload {
  text: string;
  n: number;
  nested: { tags: string[]; ok: boolean; none: null };
}

const T0 = 1_700_000_000_000;

function payload(id: string): Payload {
  return { text: `hello ${id} ✓`, n: id.length, nested: { tags: [id, 'x'], ok: true, none: null } };
}

function job(priority: Priority, ids: string[], lane = '', scopes: string[] = []): JobInput<Payload> {
  return { priority, lane, scopes, messages: ids.map((id) => ({ id, payload: payload(id) })) };
}

function query(overrides: Partial<ClaimQuery> = {}): ClaimQuery {
  return {
    now: T0,
    owner: 'w1',
    leaseUntil: T0 + 30_000,
    maxJobs: 100,
    remaining: 1_000,
    reserve: 0,
    ...overrides,
  };
}

/** The lease of a job claimed (or added leased) by `owner`. */
function L(jobId: string, owner = 'w1'): LeaseRef {
  return { jobId, owner };
}

/** The first message id of each job: a readable summary of claim order. */
function heads(jobs: Job<Payload>[]): string[] {
  return jobs.map((j) => j.messages[0]!.id);
}

export function describeQueueStoreConformance(
  name: string,
  makeBackend: () => Promise<Backend> | Backend,
): void {
  describe(`QueueStore conformance: ${name}`, () => {
    let backend: Backend;
    let q: QueueStore<Payload>;

    beforeEach(async () => {
      backend = await makeBackend();
      q = backend.queue<Payload>('conformance');
    });

    /** Completes jobs leased by 'w1'. */
    function completeIds(ids: readonly string[], now: number): Promise<number> | number {
      return q.complete(
        ids.map((id) => L(id)),
        now,
      );
    }

    afterEach(async () => {
      await backend.close();
    });

    async function addOne(input: JobInput<Payload>, now = T0): Promise<Job<Payload>> {
      const [added] = await q.add([input], now);
      return added!;
    }

    async function claimIds(overrides: Partial<ClaimQuery> = {}): Promise<string[]> {
      return heads(await q.claim(query(overrides)));
    }

    async function expectDuplicate(attempt: () => unknown, ids: string[]): Promise<void> {
      const error = await Promise.resolve()
        .then(attempt)
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isRateKeeperError(error, 'ERR_DUPLICATE_MESSAGE'), String(error)).toBe(true);
      for (const id of ids) expect((error as { ids: string[] }).ids).toContain(id);
    }

    describe('add', () => {
      it('returns the jobs with every field, and records each message as enqueued', async () => {
        const jobs = await q.add(
          [job('normal', ['m1', 'm2'], 'lane-a', ['chat:1']), job('critical', ['m3'])],
          T0,
        );
        expect(jobs).toHaveLength(2);
        expect(typeof jobs[0]!.id).toBe('string');
        expect(jobs[0]!.id).not.toBe(jobs[1]!.id);
        expect(jobs[0]).toMatchObject({
          priority: 'normal',
          lane: 'lane-a',
          scopes: ['chat:1'],
          messages: [
            { id: 'm1', payload: payload('m1') },
            { id: 'm2', payload: payload('m2') },
          ],
          attempts: 0,
          enqueuedAt: T0,
          notBefore: T0,
          lastError: null,
        });
        expect(await q.getRecord('m1')).toEqual({
          id: 'm1',
          status: 'enqueued',
          priority: 'normal',
          attempts: 0,
          lastError: null,
          createdAt: T0,
          updatedAt: T0,
          deliveredAt: null,
        });
        expect((await q.getRecord('m3'))?.priority).toBe('critical');
        expect(await q.getRecord('nope')).toBeUndefined();
        const stats = await q.stats(T0);
        expect(stats.queued).toEqual({ critical: 1, normal: 2, optional: 0 });
      });

      it('payloads, lanes and scopes survive the round trip through claim', async () => {
        await q.add([job('optional', ['p1', 'p2'], 'chat:1|global', ['chat:1', 'global'])], T0);
        const [claimed] = await q.claim(query());
        expect(claimed).toMatchObject({
          priority: 'optional',
          lane: 'chat:1|global',
          scopes: ['chat:1', 'global'],
          messages: [
            { id: 'p1', payload: payload('p1') },
            { id: 'p2', payload: payload('p2') },
          ],
        });
      });

      it('keeps per-scope costs of a batch, and leaves them absent when not given', async () => {
        const input = { ...job('normal', ['pc1', 'pc2', 'pc3'], 'chat:1|chat:2', ['chat:1', 'chat:2']) };
        await q.add([{ ...input, costs: { 'chat:1': 2, 'chat:2': 1 } }, job('normal', ['plain'])], T0);
        const claimed = await q.claim(query());
        expect(claimed[0]!.costs).toEqual({ 'chat:1': 2, 'chat:2': 1 });
        expect(claimed[1]!.costs).toBeUndefined();
        await q.bury(L(claimed[0]!.id), T0 + 1, 'x');
        expect((await q.deadLetters())[0]!.costs).toEqual({ 'chat:1': 2, 'chat:2': 1 });
        await q.replay({}, T0 + 2);
        expect((await q.claim(query({ now: T0 + 2 })))[0]!.costs).toEqual({ 'chat:1': 2, 'chat:2': 1 });
      });

      it('with a lease, jobs are in flight at once (passed-to-sender) and not claimable', async () => {
        const [leased] = await q.add([job('normal', ['l1', 'l2'])], T0, { owner: 'w1', until: T0 + 1000 });
        expect((await q.getRecord('l1'))?.status).toBe('passed-to-sender');
        expect((await q.stats(T0)).inFlight).toBe(2);
        expect(await q.hasClaimable('optional', T0)).toBe(false);
        expect(await q.claim(query())).toEqual([]);
        await completeIds([leased!.id], T0 + 5);
        expect(await q.getRecord('l1')).toMatchObject({
          status: 'passed-to-sender',
          deliveredAt: T0 + 5,
          updatedAt: T0 + 5,
        });
        expect((await q.stats(T0 + 5)).counters.delivered).toBe(2);
      });

      it('is all-or-none: a duplicate id anywhere writes nothing and throws DuplicateMessageError', async () => {
        await addOne(job('normal', ['a1', 'a2']));
        await expectDuplicate(
          () => q.add([job('critical', ['b1']), job('normal', ['b2', 'a2'])], T0 + 1),
          ['a2'],
        );
        expect(await q.getRecord('b1')).toBeUndefined();
        expect(await q.getRecord('b2')).toBeUndefined();
        expect((await q.getRecord('a2'))?.updatedAt).toBe(T0);
        expect((await q.stats(T0)).queued).toEqual({ critical: 0, normal: 2, optional: 0 });
        // Duplicates inside one call, in one batch or across batches.
        await expectDuplicate(() => q.add([job('normal', ['c1', 'c1'])], T0), ['c1']);
        await expectDuplicate(() => q.add([job('normal', ['d1']), job('optional', ['d1'])], T0), ['d1']);
        expect(await q.getRecord('c1')).toBeUndefined();
        expect(await q.getRecord('d1')).toBeUndefined();
        expect(await claimIds()).toEqual(['a1']);
      });

      it('refuses ids that are in flight, retrying or dead-lettered; accepts them again once finished', async () => {
        await addOne(job('normal', ['f1']));
        await addOne(job('normal', ['r1']));
        await addOne(job('normal', ['d1']));
        await addOne(job('normal', ['done1']));
        const claimed = await q.claim(query());
        const byHead = new Map(claimed.map((j) => [j.messages[0]!.id, j.id]));
        await q.release(L(byHead.get('r1')!), T0, { notBefore: T0 + 10_000, failed: true, error: 'boom' });
        await q.bury(L(byHead.get('d1')!), T0, 'fatal');
        await completeIds([byHead.get('done1')!], T0);
        for (const id of ['f1', 'r1', 'd1'])
          await expectDuplicate(() => q.add([job('normal', [id])], T0), [id]);
        // Delivered: the id may be used again.
        const again = await addOne(job('critical', ['done1']), T0 + 1);
        expect(again.attempts).toBe(0);
        expect(await q.getRecord('done1')).toMatchObject({ status: 'enqueued', priority: 'critical' });
        // Purged dead letter: may be used again.
        expect(await q.purge({ messageIds: ['d1'] })).toBe(1);
        await addOne(job('normal', ['d1']), T0 + 2);
        expect((await q.getRecord('d1'))?.status).toBe('enqueued');
      });

      it('adding nothing is a no-op', async () => {
        expect(await q.add([], T0)).toEqual([]);
        expect((await q.stats(T0)).queued).toEqual({ critical: 0, normal: 0, optional: 0 });
      });
    });

    describe('record', () => {
      it('records dropped statuses with an error, counts them, and queues nothing', async () => {
        await q.record(['x1', 'x2'], 'dropped', 'optional', T0);
        await q.record(['x3'], 'dropped-batch-too-large', 'normal', T0 + 1, 'batch of 40 > 30');
        await q.record(['x4'], 'dropped-failed-to-enqueue', 'critical', T0 + 2, 'disk full');
        expect(await q.getRecord('x1')).toEqual({
          id: 'x1',
          status: 'dropped',
          priority: 'optional',
          attempts: 0,
          lastError: null,
          createdAt: T0,
          updatedAt: T0,
          deliveredAt: null,
        });
        expect(await q.getRecord('x3')).toMatchObject({
          status: 'dropped-batch-too-large',
          lastError: 'batch of 40 > 30',
          updatedAt: T0 + 1,
        });
        expect(await q.getRecord('x4')).toMatchObject({
          status: 'dropped-failed-to-enqueue',
          lastError: 'disk full',
        });
        const stats = await q.stats(T0 + 2);
        expect(stats.counters.dropped).toBe(4);
        expect(stats.queued).toEqual({ critical: 0, normal: 0, optional: 0 });
        expect(await q.hasClaimable('optional', T0 + 2)).toBe(false);
        // A dropped id is not live: it may be queued later.
        await addOne(job('normal', ['x1']), T0 + 3);
        expect((await q.getRecord('x1'))?.status).toBe('enqueued');
      });
    });

    describe('hasClaimable', () => {
      it('considers the priority and the more urgent ones only', async () => {
        expect(await q.hasClaimable('optional', T0)).toBe(false);
        await addOne(job('normal', ['n1']));
        expect(await q.hasClaimable('critical', T0)).toBe(false);
        expect(await q.hasClaimable('normal', T0)).toBe(true);
        expect(await q.hasClaimable('optional', T0)).toBe(true);
      });

      it('ignores leased, not-yet-due and held-lane jobs', async () => {
        await addOne(job('critical', ['c1'], 'held'));
        await q.holdLane('held', T0 + 100);
        expect(await q.hasClaimable('critical', T0)).toBe(false);
        expect(await q.hasClaimable('critical', T0 + 100)).toBe(true);
        const [claimed] = await q.claim(query({ now: T0 + 100 }));
        expect(await q.hasClaimable('critical', T0 + 100)).toBe(false);
        await q.release(L(claimed!.id), T0 + 100, { notBefore: T0 + 500, failed: true, error: 'e' });
        expect(await q.hasClaimable('critical', T0 + 499)).toBe(false);
        expect(await q.hasClaimable('critical', T0 + 500)).toBe(true);
      });
    });

    describe('claim', () => {
      it('takes priority order, FIFO within a priority, and marks messages passed-to-sender', async () => {
        await addOne(job('normal', ['n1']), T0);
        await addOne(job('critical', ['c1']), T0 + 1);
        await addOne(job('optional', ['o1']), T0 + 2);
        await addOne(job('normal', ['n2']), T0 + 3);
        await addOne(job('critical', ['c2']), T0 + 4);
        await addOne(job('optional', ['o2']), T0 + 5);
        const claimed = await q.claim(query({ now: T0 + 10 }));
        expect(heads(claimed)).toEqual(['c1', 'c2', 'n1', 'n2', 'o1', 'o2']);
        expect(await q.getRecord('n1')).toMatchObject({ status: 'passed-to-sender', updatedAt: T0 + 10 });
        expect((await q.stats(T0 + 10)).inFlight).toBe(6);
        expect(await q.claim(query({ now: T0 + 10 }))).toEqual([]);
      });

      it('FIFO holds across many jobs added in one call', async () => {
        const ids = Array.from({ length: 30 }, (_, i) => `m${i}`);
        await q.add(
          ids.map((id) => job('normal', [id])),
          T0,
        );
        expect(await claimIds({ maxJobs: 10 })).toEqual(ids.slice(0, 10));
        expect(await claimIds({ maxJobs: 100 })).toEqual(ids.slice(10));
      });

      it('stops at maxJobs', async () => {
        for (const id of ['a', 'b', 'c']) await addOne(job('normal', [id]));
        expect(await claimIds({ maxJobs: 2 })).toEqual(['a', 'b']);
        expect(await claimIds({ maxJobs: 2 })).toEqual(['c']);
      });

      it('takes a job only if its size fits the budget; a priority stops at the first that does not', async () => {
        await addOne(job('critical', ['c1', 'c1b']));
        await addOne(job('critical', ['c2', 'c2b', 'c2c']));
        await addOne(job('critical', ['c3']));
        await addOne(job('normal', ['n1']));
        // 4 left: c1 (2) fits, c2 (3) does not and stops critical (c3 is not taken past it); normal goes on.
        expect(await claimIds({ remaining: 4 })).toEqual(['c1', 'n1']);
        expect(await claimIds({ remaining: 3 })).toEqual(['c2', 'c3'].slice(0, 1));
        expect(await claimIds({ remaining: 1 })).toEqual(['c3']);
      });

      it('a priority that stops does not stop the next priority', async () => {
        await addOne(job('normal', ['big1', 'big2', 'big3', 'big4', 'big5']));
        await addOne(job('normal', ['n-small']));
        await addOne(job('optional', ['o-small']));
        expect(await claimIds({ remaining: 4 })).toEqual(['o-small']);
      });

      it('takes normal and optional jobs only while what is left exceeds the reserve', async () => {
        await addOne(job('critical', ['c1', 'c1b', 'c1c']));
        await addOne(job('normal', ['n1']));
        await addOne(job('normal', ['n2']));
        await addOne(job('normal', ['n3']));
        await addOne(job('optional', ['o1']));
        // left 10 → c1 (3) → 7 > 5 → n1 → 6 > 5 → n2 → 5, not > 5: stop normal and optional.
        expect(await claimIds({ remaining: 10, reserve: 5 })).toEqual(['c1', 'n1', 'n2']);
        // Critical ignores the reserve.
        await addOne(job('critical', ['c2']));
        expect(await claimIds({ remaining: 1, reserve: 5 })).toEqual(['c2']);
        expect(await claimIds({ remaining: 5, reserve: 5 })).toEqual([]);
        expect(await claimIds({ remaining: 6, reserve: 5 })).toEqual(['n3']);
      });

      it('the reserve is checked before each job: a job that fits is taken even if it eats into it', async () => {
        await addOne(job('normal', ['n1', 'n1b', 'n1c', 'n1d']));
        await addOne(job('normal', ['n2']));
        expect(await claimIds({ remaining: 7, reserve: 5 })).toEqual(['n1']);
      });

      it('skips leased and not-yet-due jobs without stopping', async () => {
        await addOne(job('normal', ['a']));
        await addOne(job('normal', ['b-big', 'b2', 'b3', 'b4', 'b5', 'b6']));
        await addOne(job('normal', ['c']));
        expect(await claimIds({ maxJobs: 1 })).toEqual(['a']);
        const [big] = await q.claim(query({ maxJobs: 1 }));
        await q.release(L(big!.id), T0, { notBefore: T0 + 1000, failed: true, error: 'boom' });
        // a is leased, b is not due (and would not fit): c is still reached.
        expect(await claimIds({ remaining: 2 })).toEqual(['c']);
        // From notBefore on, b is claimable again.
        expect(await claimIds({ now: T0 + 999 })).toEqual([]);
        expect(await claimIds({ now: T0 + 1000 })).toEqual(['b-big']);
      });

      it('a held lane never blocks other lanes, however many jobs it has at the head', async () => {
        for (let i = 0; i < 50; i++) await addOne(job('critical', [`h${i}`, `h${i}b`], 'hot'));
        await addOne(job('critical', ['other'], 'cold'));
        await addOne(job('normal', ['n-other'], 'cold'));
        await q.holdLane('hot', T0 + 1000);
        expect(await q.hasClaimable('critical', T0)).toBe(true);
        expect(await claimIds({ remaining: 3 })).toEqual(['other', 'n-other']);
        // Holds only extend.
        await q.holdLane('hot', T0 + 10);
        expect(await claimIds({ now: T0 + 500 })).toEqual([]);
        const released = await claimIds({ now: T0 + 1000, maxJobs: 3 });
        expect(released).toEqual(['h0', 'h1', 'h2']);
      });

      it('release without failure keeps the job’s place in line (status enqueued)', async () => {
        for (const id of ['a', 'b', 'c']) await addOne(job('normal', [id]));
        const [first] = await q.claim(query({ maxJobs: 1 }));
        await addOne(job('normal', ['d']), T0 + 1);
        await q.release(L(first!.id), T0 + 2, { notBefore: T0 + 2, failed: false });
        const record = await q.getRecord('a');
        expect(record).toMatchObject({ status: 'enqueued', attempts: 0, updatedAt: T0 + 2 });
        expect(await claimIds({ now: T0 + 2 })).toEqual(['a', 'b', 'c', 'd']);
      });

      it('a failed release counts an attempt, records the error, and sets status retrying', async () => {
        await addOne(job('normal', ['a', 'a2']));
        await addOne(job('normal', ['b']));
        const [first] = await q.claim(query({ maxJobs: 1 }));
        await q.release(L(first!.id), T0 + 5, { notBefore: T0 + 100, failed: true, error: 'HTTP 500' });
        expect(await q.getRecord('a2')).toMatchObject({
          status: 'retrying',
          attempts: 1,
          lastError: 'HTTP 500',
          updatedAt: T0 + 5,
        });
        let stats = await q.stats(T0 + 5);
        expect(stats.retrying).toBe(2);
        expect(stats.queued.normal).toBe(1);
        expect(stats.counters.retried).toBe(1);
        const [again] = await q.claim(query({ now: T0 + 100 }));
        expect(again).toMatchObject({
          id: first!.id,
          attempts: 1,
          lastError: 'HTTP 500',
          notBefore: T0 + 100,
        });
        await q.release(L(again!.id), T0 + 200, { notBefore: T0 + 300, failed: true, error: 'HTTP 502' });
        expect(await q.getRecord('a')).toMatchObject({
          status: 'retrying',
          attempts: 2,
          lastError: 'HTTP 502',
        });
        stats = await q.stats(T0 + 200);
        expect(stats.counters.retried).toBe(2);
        // A refusal (not a failure) keeps the attempt count.
        const [third] = await q.claim(query({ now: T0 + 300 }));
        await q.release(L(third!.id), T0 + 300, { notBefore: T0 + 300, failed: false });
        expect(await q.getRecord('a')).toMatchObject({ status: 'enqueued', attempts: 2 });
      });

      it('bury moves a job to the dead letters', async () => {
        await addOne(job('critical', ['a', 'a2'], 'lane-x'));
        const [claimed] = await q.claim(query());
        await q.bury(L(claimed!.id), T0 + 7, 'permanent: 400 Bad Request');
        expect(await q.getRecord('a')).toMatchObject({
          status: 'dead-lettered',
          attempts: 1,
          lastError: 'permanent: 400 Bad Request',
          updatedAt: T0 + 7,
        });
        const dead = await q.deadLetters();
        expect(dead).toHaveLength(1);
        expect(dead[0]).toMatchObject({
          id: claimed!.id,
          priority: 'critical',
          lane: 'lane-x',
          attempts: 1,
          lastError: 'permanent: 400 Bad Request',
          failedAt: T0 + 7,
          messages: [
            { id: 'a', payload: payload('a') },
            { id: 'a2', payload: payload('a2') },
          ],
        });
        const stats = await q.stats(T0 + 7);
        expect(stats).toMatchObject({ deadLettered: 2, inFlight: 0, counters: { deadLettered: 2 } });
        expect(await q.hasClaimable('optional', T0 + 1e9)).toBe(false);
        expect(await q.claim(query({ now: T0 + 1e9 }))).toEqual([]);
      });
    });

    describe('leases', () => {
      it('fencing: a stale owner can neither complete, release, bury nor extend a job another owner holds', async () => {
        await addOne(job('normal', ['f1', 'f2']));
        const [first] = await q.claim(query({ owner: 'old', leaseUntil: T0 + 100 }));
        expect(await q.recover(T0 + 100)).toBe(1);
        const [again] = await q.claim(query({ now: T0 + 100, owner: 'new', leaseUntil: T0 + 10_000 }));
        expect(again!.id).toBe(first!.id);
        const stale = L(first!.id, 'old');
        expect(await q.complete([stale], T0 + 101)).toBe(0);
        expect(await q.completeMessages(stale, ['f1'], T0 + 101)).toBe(false);
        expect(await q.release(stale, T0 + 101, { notBefore: T0, failed: true, error: 'x' })).toBe(false);
        expect(await q.bury(stale, T0 + 101, 'x')).toBe(false);
        // With the job's current lease in the same call: only the stale one comes back, as given.
        const lost = await q.extend([stale, L(again!.id, 'new')], T0 + 10_000);
        expect(lost).toEqual([stale]);
        expect(lost[0]).toBe(stale); // the very lease given, not just its job id
        expect(await q.getRecord('f1')).toMatchObject({
          status: 'passed-to-sender',
          attempts: 0,
          deliveredAt: null,
        });
        const stats = await q.stats(T0 + 101);
        expect(stats).toMatchObject({ inFlight: 2, deadLettered: 0, retrying: 0 });
        expect(stats.counters).toEqual({ delivered: 0, dropped: 0, deadLettered: 0, retried: 0, stale: 5 });
        // The stale extend did not lengthen the lease: it ends when the new owner's does.
        expect(await q.recover(T0 + 10_000)).toBe(1);
        // The new owner's own lease works (after claiming it once more).
        const [third] = await q.claim(query({ now: T0 + 10_000, owner: 'newer' }));
        expect(await q.complete([L(third!.id, 'newer')], T0 + 10_001)).toBe(1);
        expect((await q.stats(T0 + 10_001)).counters).toMatchObject({ delivered: 2, stale: 5 });
      });

      it('fencing: operations on a job that is not leased at all are refused and counted', async () => {
        const queued = await addOne(job('normal', ['w1m']));
        expect(await q.release(L(queued.id), T0, { notBefore: T0, failed: false })).toBe(false);
        expect(await q.bury(L(queued.id), T0, 'x')).toBe(false);
        expect(await q.complete([L(queued.id), L('no-such-job')], T0)).toBe(0);
        expect(await q.getRecord('w1m')).toMatchObject({ status: 'enqueued' });
        expect((await q.stats(T0)).counters.stale).toBe(4);
      });

      it('completeMessages records some messages delivered; the job keeps the rest, still leased', async () => {
        await addOne(job('normal', ['p1', 'p2', 'p3', 'p4', 'p5'], 'lane-p', ['chat:1']));
        const [claimed] = await q.claim(query({ owner: 'w1' }));
        expect(await q.completeMessages(L(claimed!.id), ['p1', 'p3', 'p4', 'p5'], T0 + 5)).toBe(true);
        expect(await q.getRecord('p3')).toMatchObject({ status: 'passed-to-sender', deliveredAt: T0 + 5 });
        expect(await q.getRecord('p2')).toMatchObject({ status: 'passed-to-sender', deliveredAt: null });
        let stats = await q.stats(T0 + 5);
        expect(stats.inFlight).toBe(1);
        expect(stats.counters.delivered).toBe(4);
        expect(
          await q.release(L(claimed!.id), T0 + 6, { notBefore: T0 + 6, failed: true, error: 'HTTP 500' }),
        ).toBe(true);
        const [rest] = await q.claim(query({ now: T0 + 6, owner: 'w2' }));
        expect(rest!.messages).toEqual([{ id: 'p2', payload: payload('p2') }]);
        expect(rest!.attempts).toBe(1);
        expect(rest!.scopes).toEqual(['chat:1']);
        // A delivered id is free again (not live): it may be offered anew.
        await addOne(job('normal', ['p1']));
        expect(await q.complete([L(rest!.id, 'w2')], T0 + 7)).toBe(1);
        stats = await q.stats(T0 + 7);
        expect(stats.counters.delivered).toBe(5);
        expect(stats.queued.normal).toBe(1);
        expect(await q.getRecord('p2')).toMatchObject({ status: 'passed-to-sender', deliveredAt: T0 + 7 });
      });

      it('completeMessages then a crash: only the undelivered rest comes back', async () => {
        await addOne(job('critical', ['c1', 'c2', 'c3']));
        const [claimed] = await q.claim(query({ owner: 'w1', leaseUntil: T0 + 50 }));
        expect(await q.completeMessages(L(claimed!.id), ['c2'], T0 + 1)).toBe(true);
        expect(await q.recover(T0 + 50)).toBe(1);
        const [again] = await q.claim(query({ now: T0 + 50, owner: 'w2' }));
        expect(again!.messages.map((m) => m.id)).toEqual(['c1', 'c3']);
        expect((await q.stats(T0 + 50)).inFlight).toBe(2);
      });

      it('splitMessages moves messages into a job of their own, leased alike; each part is buried or released on its own', async () => {
        const input = {
          ...job('normal', ['s1', 's2', 's3', 's4'], 'lane-s', ['chat:1']),
          costs: { 'chat:1': 3 },
        };
        await addOne(input);
        const [claimed] = await q.claim(query({ owner: 'w1' }));
        const part = await q.splitMessages(L(claimed!.id), ['s2', 'not-in-job']);
        expect(typeof part).toBe('string');
        expect(part).not.toBe(claimed!.id);
        // Nothing else changed: the same messages in flight, the same statuses, no counter moved.
        let stats = await q.stats(T0 + 1);
        expect(stats).toMatchObject({ inFlight: 4, deadLettered: 0, retrying: 0 });
        expect(stats.counters).toEqual({ delivered: 0, dropped: 0, deadLettered: 0, retried: 0, stale: 0 });
        expect(await q.getRecord('s2')).toMatchObject({ status: 'passed-to-sender', attempts: 0 });
        // The part has its own lease: burying it leaves the job leased with the others.
        expect(await q.bury(L(part!), T0 + 1, 'permanent: chat not found')).toBe(true);
        expect(await q.getRecord('s2')).toMatchObject({
          status: 'dead-lettered',
          attempts: 1,
          lastError: 'permanent: chat not found',
        });
        expect(await q.getRecord('s1')).toMatchObject({ status: 'passed-to-sender', lastError: null });
        const dead = await q.deadLetters();
        expect(dead).toHaveLength(1);
        expect(dead[0]).toMatchObject({
          id: part,
          priority: 'normal',
          lane: 'lane-s',
          scopes: ['chat:1'],
          costs: { 'chat:1': 1 },
          attempts: 1,
          enqueuedAt: T0,
          lastError: 'permanent: chat not found',
          messages: [{ id: 's2', payload: payload('s2') }],
        });
        expect(
          await q.release(L(claimed!.id), T0 + 2, { notBefore: T0 + 2, failed: true, error: 'HTTP 503' }),
        ).toBe(true);
        const [rest] = await q.claim(query({ now: T0 + 2, owner: 'w2' }));
        expect(rest!.id).toBe(claimed!.id);
        expect(rest!.messages.map((m) => m.id)).toEqual(['s1', 's3', 's4']);
        expect(rest!.costs).toEqual({ 'chat:1': 3 });
        expect(rest!.attempts).toBe(1);
        stats = await q.stats(T0 + 2);
        expect(stats).toMatchObject({ inFlight: 3, deadLettered: 1 });
        expect(stats.counters).toMatchObject({ deadLettered: 1, retried: 1, stale: 0 });
        // A replayed part is a job like any other.
        expect(await q.replay({ messageIds: ['s2'] }, T0 + 3)).toBe(1);
        expect(await q.getRecord('s2')).toMatchObject({ status: 'enqueued', attempts: 0 });
      });

      it('splitMessages: nothing to split off answers the job itself; a lease not held answers null, counted stale', async () => {
        await addOne(job('critical', ['n1', 'n2']));
        const queued = await addOne(job('normal', ['n3', 'n4']));
        const [claimed] = await q.claim(query({ maxJobs: 1 }));
        expect(await q.splitMessages(L(claimed!.id), [])).toBe(claimed!.id);
        expect(await q.splitMessages(L(claimed!.id), ['n3'])).toBe(claimed!.id);
        expect(await q.splitMessages(L(claimed!.id), ['n2', 'n1'])).toBe(claimed!.id);
        expect((await q.stats(T0)).counters.stale).toBe(0);
        expect(await q.splitMessages(L(claimed!.id, 'someone-else'), ['n1'])).toBeNull();
        expect(await q.splitMessages(L(queued.id), ['n3'])).toBeNull();
        expect(await q.splitMessages(L('no-such-job'), ['n3'])).toBeNull();
        expect((await q.stats(T0)).counters.stale).toBe(3);
        expect(await q.complete([L(claimed!.id)], T0 + 1)).toBe(1);
        expect((await q.stats(T0 + 1)).counters.delivered).toBe(2);
      });

      it('a part split off has no place in line: released, it joins the end; a crash returns both parts', async () => {
        await addOne(job('normal', ['a1', 'a2']));
        await addOne(job('normal', ['b1']));
        const [a] = await q.claim(query({ maxJobs: 1, leaseUntil: T0 + 50 }));
        const part = await q.splitMessages(L(a!.id), ['a2']);
        // The part keeps the job's lease end: both come back when it expires.
        expect(await q.recover(T0 + 50)).toBe(2);
        expect(await claimIds({ now: T0 + 50 })).toEqual(['a1', 'b1', 'a2']);
        expect(await q.complete([L(a!.id), L(part!)], T0 + 51)).toBe(2);
        expect(await q.getRecord('a2')).toMatchObject({ status: 'passed-to-sender', deliveredAt: T0 + 51 });
        expect(await q.stats(T0 + 51)).toMatchObject({ inFlight: 1, counters: { delivered: 2 } });
      });

      it('a claim ends the holds that are over: a clock that steps back afterwards does not bring them back', async () => {
        await q.holdLane('a', T0 + 10);
        await addOne(job('critical', ['x1']));
        await addOne(job('normal', ['y1'], 'a'));
        // At T0 + 20 the hold is over; this claim takes x1 only (maxJobs 1) and ends the hold.
        expect(await claimIds({ now: T0 + 20, maxJobs: 1 })).toEqual(['x1']);
        // Another process whose clock lags claims at T0 + 5: the lane is not held any more.
        expect(await q.hasClaimable('normal', T0 + 5)).toBe(true);
        expect(await claimIds({ now: T0 + 5 })).toEqual(['y1']);
      });

      it('prune also forgets lane holds that ended, and a held lane flows again once its hold ends', async () => {
        await q.holdLane('gone', T0 + 10);
        await q.holdLane('kept', T0 + 1e9);
        await addOne(job('normal', ['h1'], 'gone'));
        await addOne(job('normal', ['h2'], 'kept'));
        expect(await claimIds({ now: T0 + 5 })).toEqual([]);
        await q.prune(T0, T0 + 10);
        expect(await claimIds({ now: T0 + 10 })).toEqual(['h1']);
        expect(await q.hasClaimable('normal', T0 + 11)).toBe(false);
      });

      it('recover returns jobs whose lease expired to their place in line, status enqueued', async () => {
        await addOne(job('normal', ['a']));
        await addOne(job('normal', ['b']));
        const [first] = await q.claim(query({ maxJobs: 1, leaseUntil: T0 + 1000 }));
        expect(await q.recover(T0 + 999)).toBe(0);
        expect(await q.recover(T0 + 1000)).toBe(1);
        expect(await q.getRecord('a')).toMatchObject({ status: 'enqueued', attempts: 0 });
        expect((await q.stats(T0 + 1000)).inFlight).toBe(0);
        const again = await q.claim(query({ now: T0 + 1000 }));
        expect(heads(again)).toEqual(['a', 'b']);
        expect(again[0]!.id).toBe(first!.id);
        expect(await q.recover(T0 + 1000)).toBe(0);
      });

      it('recover also returns jobs added already leased', async () => {
        await q.add([job('critical', ['s1'])], T0, { owner: 'w1', until: T0 + 50 });
        expect(await q.recover(T0 + 50)).toBe(1);
        expect(await claimIds({ now: T0 + 50 })).toEqual(['s1']);
      });

      it('a failed release with attempt: false records the error but counts no attempt', async () => {
        await addOne(job('normal', ['w']));
        const [claimed] = await q.claim(query());
        const lease = L(claimed!.id, 'w1');
        expect(
          await q.release(lease, T0 + 1, { notBefore: T0 + 5, failed: true, error: 'wait', attempt: false }),
        ).toBe(true);
        expect(await q.getRecord('w')).toMatchObject({ status: 'retrying', attempts: 0, lastError: 'wait' });
        expect((await q.stats(T0 + 1)).counters.retried).toBe(1);
        const [again] = await q.claim(query({ now: T0 + 5 }));
        expect(again).toMatchObject({ attempts: 0, lastError: 'wait' });
        await q.release(L(again!.id, 'w1'), T0 + 6, { notBefore: T0 + 6, failed: true, error: 'boom' });
        expect(await q.getRecord('w')).toMatchObject({ status: 'retrying', attempts: 1, lastError: 'boom' });
      });

      it('extend lengthens only the owner’s leases, and never shortens them', async () => {
        await addOne(job('normal', ['a']));
        await addOne(job('normal', ['b']));
        const jobs = await q.claim(query({ leaseUntil: T0 + 100 }));
        const [a, b] = jobs;
        await q.extend([L(a!.id, 'w1')], T0 + 500);
        await q.extend([L(b!.id, 'someone-else')], T0 + 500);
        expect(await q.recover(T0 + 100)).toBe(1); // only b
        expect((await q.getRecord('b'))?.status).toBe('enqueued');
        expect((await q.getRecord('a'))?.status).toBe('passed-to-sender');
        await q.extend([L(a!.id, 'w1')], T0 + 200);
        expect(await q.recover(T0 + 499)).toBe(0);
        expect(await q.recover(T0 + 500)).toBe(1);
      });

      it('complete removes the jobs and records delivery', async () => {
        await addOne(job('normal', ['a', 'a2']));
        await addOne(job('optional', ['b']));
        const jobs = await q.claim(query());
        await completeIds(
          jobs.map((j) => j.id),
          T0 + 9,
        );
        expect(await q.getRecord('a2')).toEqual({
          id: 'a2',
          status: 'passed-to-sender',
          priority: 'normal',
          attempts: 0,
          lastError: null,
          createdAt: T0,
          updatedAt: T0 + 9,
          deliveredAt: T0 + 9,
        });
        const stats = await q.stats(T0 + 9);
        expect(stats).toEqual({
          queued: { critical: 0, normal: 0, optional: 0 },
          retrying: 0,
          inFlight: 0,
          deadLettered: 0,
          counters: { delivered: 3, dropped: 0, deadLettered: 0, retried: 0, stale: 0 },
        });
        expect(await q.recover(T0 + 1e9)).toBe(0);
        expect(await q.claim(query({ now: T0 + 1e9 }))).toEqual([]);
      });
    });

    describe('stats', () => {
      it('counts queued per priority, retrying, in flight, dead letters and lifetime counters', async () => {
        await addOne(job('critical', ['c1', 'c2']));
        await addOne(job('normal', ['n1']));
        await addOne(job('normal', ['n2', 'n3', 'n4']));
        await addOne(job('optional', ['o1']));
        await q.add([job('normal', ['s1'])], T0, { owner: 'w1', until: T0 + 1000 });
        await q.record(['d1'], 'dropped', 'optional', T0);
        expect(await q.stats(T0)).toEqual({
          queued: { critical: 2, normal: 4, optional: 1 },
          retrying: 0,
          inFlight: 1,
          deadLettered: 0,
          counters: { delivered: 0, dropped: 1, deadLettered: 0, retried: 0, stale: 0 },
        });
        const claimed = await q.claim(query({ maxJobs: 3 }));
        expect(heads(claimed)).toEqual(['c1', 'n1', 'n2']);
        await completeIds([claimed[0]!.id], T0 + 1);
        await q.release(L(claimed[1]!.id), T0 + 1, { notBefore: T0 + 60_000, failed: true, error: 'x' });
        await q.bury(L(claimed[2]!.id), T0 + 1, 'y');
        expect(await q.stats(T0 + 1)).toEqual({
          queued: { critical: 0, normal: 0, optional: 1 },
          retrying: 1,
          inFlight: 1,
          deadLettered: 3,
          counters: { delivered: 2, dropped: 1, deadLettered: 3, retried: 1, stale: 0 },
        });
        // Once due again, the retrying job counts as queued.
        expect((await q.stats(T0 + 60_000)).queued.normal).toBe(1);
        expect((await q.stats(T0 + 60_000)).retrying).toBe(0);
      });

      it('named queues of one backend are independent', async () => {
        const other = backend.queue<Payload>('conformance-other');
        await addOne(job('normal', ['same-id']));
        await other.add([job('critical', ['same-id'])], T0);
        expect((await q.getRecord('same-id'))?.priority).toBe('normal');
        expect((await other.getRecord('same-id'))?.priority).toBe('critical');
        expect((await other.stats(T0)).queued).toEqual({ critical: 1, normal: 0, optional: 0 });
        expect((await backend.queue<Payload>('conformance').stats(T0)).queued.normal).toBe(1);
      });
    });

    describe('dead letters', () => {
      /** Buries four jobs: (critical, lane a, t+1), (normal, lane b, t+2), (normal, lane a, t+3), (optional, '', t+4). */
      async function buryFour(): Promise<string[]> {
        await addOne(job('critical', ['k1', 'k1b'], 'a'));
        await addOne(job('normal', ['k2'], 'b'));
        await addOne(job('normal', ['k3'], 'a'));
        await addOne(job('optional', ['k4']));
        const claimed = await q.claim(query());
        expect(heads(claimed)).toEqual(['k1', 'k2', 'k3', 'k4']);
        // Bury out of claim order to check the sort by failure time.
        await q.bury(L(claimed[2]!.id), T0 + 3, 'e3');
        await q.bury(L(claimed[0]!.id), T0 + 1, 'e1');
        await q.bury(L(claimed[3]!.id), T0 + 4, 'e4');
        await q.bury(L(claimed[1]!.id), T0 + 2, 'e2');
        return claimed.map((j) => j.id);
      }

      it('lists oldest failure first, filtered by every field, with a limit', async () => {
        const ids = await buryFour();
        expect(heads(await q.deadLetters())).toEqual(['k1', 'k2', 'k3', 'k4']);
        expect(heads(await q.deadLetters({}, 2))).toEqual(['k1', 'k2']);
        expect(heads(await q.deadLetters({ jobIds: [ids[3]!, ids[1]!] }))).toEqual(['k2', 'k4']);
        expect(heads(await q.deadLetters({ messageIds: ['k1b', 'k3', 'nope'] }))).toEqual(['k1', 'k3']);
        expect(heads(await q.deadLetters({ priority: 'normal' }))).toEqual(['k2', 'k3']);
        expect(heads(await q.deadLetters({ lane: 'a' }))).toEqual(['k1', 'k3']);
        expect(heads(await q.deadLetters({ lane: '' }))).toEqual(['k4']);
        expect(heads(await q.deadLetters({ failedBefore: T0 + 3 }))).toEqual(['k1', 'k2']);
        expect(heads(await q.deadLetters({ priority: 'normal', lane: 'a' }))).toEqual(['k3']);
        expect(heads(await q.deadLetters({ priority: 'critical', lane: 'b' }))).toEqual([]);
        expect((await q.deadLetters({ jobIds: [ids[0]!] }))[0]).toMatchObject({
          failedAt: T0 + 1,
          lastError: 'e1',
          attempts: 1,
        });
      });

      it('replay puts matching dead letters back in the queue with attempts reset', async () => {
        await buryFour();
        expect(await q.replay({ lane: 'a' }, T0 + 10)).toBe(2);
        expect(heads(await q.deadLetters())).toEqual(['k2', 'k4']);
        expect(await q.getRecord('k1b')).toMatchObject({
          status: 'enqueued',
          attempts: 0,
          updatedAt: T0 + 10,
        });
        const stats = await q.stats(T0 + 10);
        expect(stats.deadLettered).toBe(2);
        expect(stats.queued).toEqual({ critical: 2, normal: 1, optional: 0 });
        const claimed = await q.claim(query({ now: T0 + 10 }));
        expect(heads(claimed)).toEqual(['k1', 'k3']);
        expect(claimed[0]).toMatchObject({ attempts: 0, notBefore: T0 + 10 });
        expect(await q.replay({ lane: 'a' }, T0 + 11)).toBe(0);
        expect(await q.replay({}, T0 + 12)).toBe(2);
        expect(await q.deadLetters()).toEqual([]);
      });

      it('purge deletes matching dead letters and their records', async () => {
        await buryFour();
        expect(await q.purge({ priority: 'normal' })).toBe(2);
        expect(heads(await q.deadLetters())).toEqual(['k1', 'k4']);
        expect(await q.getRecord('k2')).toBeUndefined();
        expect(await q.getRecord('k3')).toBeUndefined();
        expect((await q.getRecord('k1'))?.status).toBe('dead-lettered');
        expect((await q.stats(T0 + 5)).deadLettered).toBe(3);
        expect(await q.purge({})).toBe(2);
        expect(await q.deadLetters()).toEqual([]);
        expect((await q.stats(T0 + 5)).deadLettered).toBe(0);
      });
    });

    describe('prune', () => {
      it('deletes finished records updated before the time, never live messages', async () => {
        await addOne(job('normal', ['queued']));
        await addOne(job('normal', ['leased']));
        await addOne(job('normal', ['retrying']));
        await addOne(job('normal', ['dead']));
        await addOne(job('normal', ['delivered']));
        await q.record(['dropped-old'], 'dropped', 'optional', T0);
        const claimed = await q.claim(query({ maxJobs: 5 }));
        const byHead = new Map(claimed.map((j) => [j.messages[0]!.id, j.id]));
        await q.release(L(byHead.get('queued')!), T0, { notBefore: T0, failed: false });
        await q.release(L(byHead.get('retrying')!), T0, { notBefore: T0 + 1e9, failed: true, error: 'e' });
        await q.bury(L(byHead.get('dead')!), T0, 'e');
        await completeIds([byHead.get('delivered')!], T0);
        await q.record(['dropped-new'], 'dropped', 'optional', T0 + 100);
        expect(await q.prune(T0, T0)).toBe(0); // strictly before
        expect(await q.prune(T0 + 100, T0 + 100)).toBe(2);
        expect(await q.getRecord('delivered')).toBeUndefined();
        expect(await q.getRecord('dropped-old')).toBeUndefined();
        expect((await q.getRecord('dropped-new'))?.status).toBe('dropped');
        for (const id of ['queued', 'leased', 'retrying', 'dead']) {
          expect(await q.getRecord(id), id).toBeDefined();
        }
        expect(await q.prune(T0 + 1e12, T0 + 1e12)).toBe(1);
        for (const id of ['queued', 'leased', 'retrying', 'dead']) {
          expect(await q.getRecord(id), id).toBeDefined();
        }
        // The live jobs still work.
        expect(await claimIds({ now: T0 + 1e9 })).toEqual(['queued', 'retrying']);
      });
    });
  });
}
