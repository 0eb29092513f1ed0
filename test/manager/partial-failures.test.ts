/**
 * A partly failed batch: each message gets the outcome of its own failure. The sender answers per message
 * (delivered, retry-after, transient, permanent); a permanent failure is dead-lettered at once with its own
 * reason and never sent again, whatever its siblings got. On memory, SQLite (a real file) and Redis, on the
 * direct path (`sendOrEnqueue` sending at once) and the queued path (the loop claiming it).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, MessageRecord, QueueStore } from '../../src/backends/types.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import type { RetryOptions } from '../../src/manager/backoff.js';
import type { ManagerEvents } from '../../src/manager/events.js';
import { type ManagerStats, RateLimitManager } from '../../src/manager/manager.js';
import { PermanentError, RetryAfterError } from '../../src/manager/sender-errors.js';
import { type BackendCase, backendCasesWithRedis, T0 } from './harness.js';

const cases = await backendCasesWithRedis('partial failures on Redis', 'partial');

/** What the receiver answers a message on each of its sends (the last answer repeats; none: delivered). */
type Answer = 'ok' | (() => unknown);
const ok: Answer = 'ok';
const tooMany =
  (ms: number): Answer =>
  () =>
    new RetryAfterError(ms, 'Too Many Requests');
const gone =
  (why: string): Answer =>
  () =>
    new PermanentError(why);
const flaky: Answer = () => new Error('HTTP 503 upstream flaked');

const SCOPE = 'chat:1';

/** The backend with its queues' `method` throwing while `fails()` says so. */
function failing(backend: Backend, method: keyof QueueStore, fails: () => boolean): Backend {
  const wrap = <T>(queue: QueueStore<T>): QueueStore<T> =>
    new Proxy(queue, {
      get(target, prop) {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (prop === method && fails()) throw new Error(`injected ${method} failure`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  return new Proxy(backend, {
    get(target, prop) {
      if (prop === 'queue') return (name?: string) => wrap(target.queue(name));
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

async function setup(
  bc: BackendCase,
  script: Record<string, Answer[]>,
  options: {
    retry?: RetryOptions;
    wrap?: (backend: Backend) => Backend;
    /** When the manager is done with what the clock allows. @default nothing in the sender or leased */
    settled?: (stats: ManagerStats) => boolean;
  } = {},
) {
  const real: Backend = await bc.make();
  const backend = options.wrap ? options.wrap(real) : real;
  const clock = new FakeClock(T0);
  const calls: Array<{ at: number; ids: string[] }> = [];
  const seen = new Map<string, number>();
  const manager = new RateLimitManager<string>({
    backend,
    clock,
    capacity: 100,
    duration: '1m',
    random: () => 0.5,
    retry: { baseDelay: '1s', ...options.retry },
    scopes: { 'chat:*': { limit: 100, window: '1m' } },
    sender: async (batch) => {
      calls.push({ at: clock.now(), ids: batch.map((m) => m.id) });
      const failed: Array<{ id: string; error: unknown }> = [];
      for (const { id } of batch) {
        const n = seen.get(id) ?? 0;
        seen.set(id, n + 1);
        const answers = script[id] ?? [ok];
        const answer = answers[Math.min(n, answers.length - 1)]!;
        if (answer !== 'ok') failed.push({ id, error: answer() });
      }
      return failed.length > 0 ? { failed } : undefined;
    },
  });
  const dead: Array<ManagerEvents['dead-lettered'][0]> = [];
  const retries: Array<ManagerEvents['retry'][0]> = [];
  manager.on('dead-lettered', (e) => dead.push(e));
  manager.on('retry', (e) => retries.push(e));
  const sends = (id: string) => calls.filter((c) => c.ids.includes(id)).length;
  const record = (id: string) => manager.getMessageRecord(id) as Promise<MessageRecord>;
  /**
   * Lets the loop, the sender and the store finish what the clock allows now. Redis answers on real
   * I/O: real turns of a few milliseconds until nothing is in flight (the clock does not move).
   */
  const settled = options.settled ?? ((s: ManagerStats) => s.inFlight === 0 && s.sending === 0);
  const quiet = async () => {
    const deadline = Date.now() + 5_000;
    for (;;) {
      await settle(5);
      const stats = await manager.stats();
      if (settled(stats)) return;
      if (Date.now() > deadline) throw new Error('the manager did not settle');
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  const advance = async (ms: number, step = 100) => {
    for (let t = 0; t < ms; t += step) {
      await clock.advance(Math.min(step, ms - t));
      await quiet();
    }
  };
  /** Offers the batch through `path` and lets its first send finish. */
  const offer = async (path: 'direct' | 'queued', ids: string[]) => {
    const messages = ids.map((id) => ({ id, payload: `body of ${id}` }));
    if (path === 'direct') {
      await manager.start();
      expect(await manager.sendOrEnqueue(messages, 'normal', { scopes: SCOPE })).toBe('passed-to-sender');
    } else {
      await backend
        .queue<string>('default')
        .add([{ priority: 'normal', lane: SCOPE, scopes: [SCOPE], messages }], clock.now());
      await manager.start();
    }
    for (let i = 0; i < 50 && calls.length === 0; i++) await advance(10, 10);
    await quiet();
    expect(calls).toHaveLength(1);
  };
  const close = async () => {
    await manager.stop();
    await real.close();
  };
  return { manager, clock, calls, dead, retries, sends, record, quiet, advance, offer, close };
}

describe.each(cases)('a partly failed batch on $name', (bc) => {
  const closes: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const close of closes.splice(0)) await close();
    bc.cleanup();
  });

  for (const path of ['direct', 'queued'] as const) {
    it(`${path}: delivered + retry-after + permanent → the permanent one is dead-lettered at once with its own reason, sent once; the 429 one is delivered later`, async () => {
      const h = await setup(bc, {
        d1: [ok],
        r1: [tooMany(2_000), ok],
        x1: [gone('chat not found')],
      });
      closes.push(h.close);
      await h.offer(path, ['d1', 'r1', 'x1']);
      const first = h.calls[0]!.at;

      // At once: d1 delivered, x1 buried with its own error, r1 waiting for the receiver (no attempt).
      expect(await h.record('d1')).toMatchObject({ status: 'passed-to-sender' });
      expect(await h.record('x1')).toMatchObject({ status: 'dead-lettered', attempts: 1 });
      expect((await h.record('x1')).lastError).toContain('chat not found');
      expect(await h.record('r1')).toMatchObject({ status: 'retrying', attempts: 0 });
      expect(h.dead.map((e) => e.ids)).toEqual([['x1']]);
      expect(h.dead[0]!.error).toBeInstanceOf(PermanentError);
      expect(String(h.dead[0]!.error)).toContain('chat not found');
      const letters = await h.manager.deadLetters();
      expect(letters.map((l) => l.messages.map((m) => m.id))).toEqual([['x1']]);
      expect(letters[0]!.lastError).toContain('chat not found');

      // The receiver's retry-after still blocks the batch's scope: a new message to it waits too.
      await h.advance(500);
      await h.manager.sendOrEnqueue([{ id: 'later', payload: 'x' }], 'normal', { scopes: SCOPE });
      await h.advance(1_400);
      expect(h.sends('r1')).toBe(1);
      expect(h.sends('later')).toBe(0);

      // After the retry-after: r1 is delivered (alone), x1 is never sent again.
      await h.advance(30_000);
      expect(h.sends('r1')).toBe(2);
      expect(h.calls.find((c) => c.ids.includes('r1') && c.at > first)!.ids).toEqual(['r1']);
      expect(h.calls.find((c) => c.ids.includes('r1') && c.at > first)!.at).toBeGreaterThanOrEqual(
        first + 2_000,
      );
      expect(await h.record('r1')).toMatchObject({ status: 'passed-to-sender', attempts: 0 });
      expect(h.sends('later')).toBe(1);
      expect(h.sends('x1')).toBe(1);
      expect(h.sends('d1')).toBe(1);
      expect(h.dead).toHaveLength(1);
      const stats = await h.manager.stats();
      expect(stats.counters).toMatchObject({ delivered: 3, deadLettered: 1 });
      expect(stats.deadLettered).toBe(1);
      expect(stats.inFlight + stats.retrying + stats.queued.normal).toBe(0);
    });

    it(`${path}: transient + permanent → the permanent one is dead-lettered at once, the transient one retried with backoff (an attempt counted)`, async () => {
      const h = await setup(bc, { t1: [flaky, ok], x1: [gone('bot was blocked by the user')] });
      closes.push(h.close);
      await h.offer(path, ['t1', 'x1']);

      expect(await h.record('x1')).toMatchObject({ status: 'dead-lettered', attempts: 1 });
      expect((await h.record('x1')).lastError).toContain('bot was blocked by the user');
      expect(await h.record('t1')).toMatchObject({ status: 'retrying', attempts: 1 });
      expect((await h.record('t1')).lastError).toContain('HTTP 503');
      expect(h.dead.map((e) => e.ids)).toEqual([['x1']]);
      expect(h.retries.map((e) => e.ids)).toEqual([['t1']]);
      // Full jitter at 0.5 of a 1 s ceiling.
      expect(h.retries[0]!.delayMs).toBe(500);

      await h.advance(30_000);
      expect(h.sends('t1')).toBe(2);
      expect(h.sends('x1')).toBe(1);
      expect(await h.record('t1')).toMatchObject({ status: 'passed-to-sender', attempts: 1 });
      expect(h.dead).toHaveLength(1);
      expect((await h.manager.deadLetters()).map((l) => l.messages.map((m) => m.id))).toEqual([['x1']]);
    });
  }

  it('retry-after + transient → the 429 one waits without an attempt, the transient one counts one; both delivered once more', async () => {
    const h = await setup(bc, { r1: [tooMany(3_000), ok], t1: [flaky, ok] });
    closes.push(h.close);
    await h.offer('direct', ['r1', 't1']);
    expect(await h.record('r1')).toMatchObject({ status: 'retrying', attempts: 0 });
    expect(await h.record('t1')).toMatchObject({ status: 'retrying', attempts: 1 });
    expect(h.dead).toEqual([]);
    // The lane is held by the receiver's answer: the transient one does not go before it ends either.
    await h.advance(2_900);
    expect(h.calls).toHaveLength(1);
    await h.advance(30_000);
    expect([h.sends('r1'), h.sends('t1')]).toEqual([2, 2]);
    expect(await h.record('r1')).toMatchObject({ status: 'passed-to-sender', attempts: 0 });
    expect(await h.record('t1')).toMatchObject({ status: 'passed-to-sender', attempts: 1 });
  });

  it('two permanent failures with different reasons: each dead letter keeps its own', async () => {
    const h = await setup(bc, { d1: [ok], x1: [gone('chat not found')], x2: [gone('message too long')] });
    closes.push(h.close);
    await h.offer('direct', ['d1', 'x1', 'x2']);
    expect((await h.record('x1')).lastError).toContain('chat not found');
    expect((await h.record('x2')).lastError).toContain('message too long');
    const letters = await h.manager.deadLetters();
    expect(letters.map((l) => [l.messages.map((m) => m.id), l.lastError?.split(': ')[1]])).toEqual([
      [['x1'], 'chat not found'],
      [['x2'], 'message too long'],
    ]);
    await h.advance(30_000);
    expect([h.sends('d1'), h.sends('x1'), h.sends('x2')]).toEqual([1, 1, 1]);
  });

  it('retry.maxRetryAfter still caps the retry-after part of a partly failed batch', async () => {
    const h = await setup(
      bc,
      { r1: [tooMany(1_000)], x1: [gone('chat not found')] },
      { retry: { maxRetryAfter: 2 } },
    );
    closes.push(h.close);
    await h.offer('direct', ['r1', 'x1']);
    expect(h.dead.map((e) => e.ids)).toEqual([['x1']]);
    await h.advance(10_000);
    // Three answers: two waits, then the cap.
    expect(h.sends('r1')).toBe(3);
    expect(h.sends('x1')).toBe(1);
    expect(h.dead.map((e) => e.ids)).toEqual([['x1'], ['r1']]);
    expect((await h.record('r1')).lastError).toContain('retry.maxRetryAfter is 2');
  });

  it('a store failure while splitting loses nothing: the batch comes back after its lease, then each part is settled', async () => {
    let failures = 1;
    const h = await setup(
      bc,
      { r1: [tooMany(1_000), ok], x1: [gone('chat not found')] },
      {
        wrap: (backend) => failing(backend, 'splitMessages', () => failures-- > 0),
        // The batch stays leased (not renewed) until its lease ends.
        settled: (stats) => stats.sending === 0,
      },
    );
    closes.push(h.close);
    const errors: string[] = [];
    h.manager.on('error', (error) => errors.push(String(error)));
    await h.offer('direct', ['r1', 'x1']);
    expect(errors.join()).toContain('injected splitMessages failure');
    expect(h.dead).toEqual([]);
    // Nothing was settled and the lease is no longer renewed: after it ends (5 s) the batch is redelivered
    // whole (at-least-once), and then each part gets its own outcome.
    await h.advance(4_000);
    expect(h.calls).toHaveLength(1);
    await h.advance(10_000);
    expect([h.sends('r1'), h.sends('x1')]).toEqual([2, 2]);
    expect(h.dead.map((e) => e.ids)).toEqual([['x1']]);
    expect(await h.record('r1')).toMatchObject({ status: 'passed-to-sender' });
    expect(await h.record('x1')).toMatchObject({ status: 'dead-lettered' });
    const stats = await h.manager.stats();
    expect(stats.inFlight + stats.retrying + stats.queued.normal).toBe(0);
  });
});
