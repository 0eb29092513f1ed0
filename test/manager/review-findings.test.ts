/**
 * The review findings left after issue 12's build, each pinned on memory and SQLite: the concurrency cap
 * when a pass and direct offers interleave, one bad job in a pass, retry-after answers and attempts,
 * listeners that return a rejected promise, and a completion that can never be written.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, QueueStore } from '../../src/backends/types.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { RetryAfterError } from '../../src/manager/sender-errors.js';
import { backendCases, harness, T0 } from './harness.js';

describe.each(backendCases())('RateLimitManager review findings on $name', (bc) => {
  afterEach(() => bc.cleanup());

  it('concurrency holds when direct offers arrive while a pass is claiming', async () => {
    const backend = await bc.make();
    const clock = new FakeClock(T0);
    const queue = backend.queue<string>('default');
    for (const id of ['o1', 'o2']) {
      await queue.add([{ priority: 'optional', lane: '', scopes: [], messages: [{ id, payload: id }] }], T0);
    }
    let manager: RateLimitManager<string> | undefined;
    const offers: Array<Promise<unknown>> = [];
    let interleaved = false;
    // The first claim of the loop lets two direct offers run to their end before it claims.
    const interleaving = wrapQueue(backend, 'claim', async (call) => {
      if (!interleaved && manager) {
        interleaved = true;
        for (const id of ['d1', 'd2']) offers.push(manager.sendOrEnqueue([{ id, payload: id }], 'critical'));
        await Promise.all(offers);
      }
      return call();
    });
    let inSender = 0;
    let most = 0;
    const release: Array<() => void> = [];
    const sent: string[] = [];
    manager = new RateLimitManager<string>({
      backend: interleaving,
      clock,
      capacity: 1_000,
      duration: '1m',
      concurrency: 2,
      sender: async (batch) => {
        inSender++;
        most = Math.max(most, inSender);
        await new Promise<void>((r) => release.push(r));
        sent.push(...batch.map((m) => m.id));
        inSender--;
      },
    });
    await manager.start();
    await settle(10);
    expect(interleaved).toBe(true);
    expect(inSender).toBeLessThanOrEqual(2);
    for (let round = 0; round < 30 && sent.length < 4; round++) {
      for (const r of release.splice(0)) r();
      await clock.advance(100);
      await settle(5);
    }
    expect(most).toBeLessThanOrEqual(2);
    expect(sent.sort()).toEqual(['d1', 'd2', 'o1', 'o2']);
    await manager.stop();
  });

  it('a claimed job whose limit request cannot be built is dead-lettered alone; the others go', async () => {
    const backend = await bc.make();
    const queue = backend.queue<string>('default');
    const job = (id: string, scopes: string[]) => ({
      priority: 'normal' as const,
      lane: scopes.join(','),
      scopes,
      costs: Object.fromEntries(scopes.map((s) => [s, 1])),
      messages: [{ id, payload: id }],
    });
    // Two endpoint pools in one batch (a config changed after it was queued): no request can be built.
    await queue.add([job('g1', []), job('bad', ['pool:a', 'pool:b']), job('g2', ['pool:a'])], T0);
    const h = await harness(backend, {
      capacity: 100,
      pools: { 'pool:a': ['pool:a#0'], 'pool:b': ['pool:b#0'] },
      scopes: { 'pool:a#0': { limit: 10, window: '1s' }, 'pool:b#0': { limit: 10, window: '1s' } },
      logger: { warn: () => {} },
    });
    const buried: string[][] = [];
    h.manager.on('dead-lettered', (e) => buried.push(e.ids));
    await h.manager.start();
    await h.advance(1_000);
    expect(h.sent().sort()).toEqual(['g1', 'g2']);
    expect(buried).toEqual([['bad']]);
    const record = await h.manager.getMessageRecord('bad');
    expect(record?.status).toBe('dead-lettered');
    expect(record?.lastError).toContain('endpoint pool');
    await h.manager.stop();
  });

  it('a listener returning a rejected promise is reported like a throwing one, and changes nothing', async () => {
    const warnings: unknown[] = [];
    const h = await harness(await bc.make(), {
      capacity: 100,
      logger: { warn: (obj) => warnings.push(obj.err) },
    });
    h.manager.on('sent', async () => {
      throw new Error('async listener bug');
    });
    await h.manager.start();
    for (let i = 0; i < 3; i++) await h.manager.sendOrEnqueue([h.msg(`a${i}`)], 'normal');
    await h.advance(1_000);
    expect(h.sent().sort()).toEqual(['a0', 'a1', 'a2']);
    expect((await h.manager.stats()).counters).toMatchObject({ delivered: 3, retried: 0, deadLettered: 0 });
    expect(warnings.map(String)).toEqual(
      Array.from({ length: 3 }, () => "ListenerError: a 'sent' listener threw: Error: async listener bug"),
    );
    // With an `error` listener, the rejection goes there instead.
    const errors: Error[] = [];
    h.manager.on('error', (e) => errors.push(e));
    await h.manager.sendOrEnqueue([h.msg('a3')], 'normal');
    await h.advance(1_000);
    expect(errors.map((e) => e.message)).toEqual(["a 'sent' listener threw: Error: async listener bug"]);
    expect(warnings).toHaveLength(3);
    await h.manager.stop();
  });

  it('a completion that can never be written is given up (reported), and the others are still recorded', async () => {
    let poisonJob: string | undefined;
    let completeCalls = 0;
    const backend = wrapQueue(await bc.make(), 'complete', (call, args) => {
      completeCalls++;
      const leases = args[0] as Array<{ jobId: string }>;
      if (leases.some((l) => l.jobId === poisonJob)) throw new Error('injected: this row cannot be written');
      return call();
    });
    const errors: string[] = [];
    const h = await harness(backend, { capacity: 100, concurrency: 8 });
    h.manager.on('error', (e) => errors.push(e.message));
    h.manager.on('sent', (e) => {
      if (e.ids.includes('poison')) poisonJob = e.jobId;
    });
    await h.manager.start();
    await Promise.all(['poison', 'ok1', 'ok2'].map((id) => h.manager.sendOrEnqueue([h.msg(id)], 'normal')));
    await h.advance(200);
    // The others are recorded although they were in the same write as the poisoned one.
    expect((await h.manager.stats()).counters.delivered).toBe(2);
    // Each later delivery is recorded while the poisoned one keeps failing; those failures are counted.
    for (let i = 3; i < 10; i++) {
      await h.manager.sendOrEnqueue([h.msg(`ok${i}`)], 'normal');
      await h.advance(200);
    }
    expect((await h.manager.stats()).counters.delivered).toBe(9);
    // Tried a bounded number of times, then given up with an error that names the job.
    const callsThen = completeCalls;
    expect(errors.some((m) => m.includes(poisonJob!) && m.includes('given up'))).toBe(true);
    for (let i = 0; i < 10; i++) await h.advance(200);
    expect(completeCalls - callsThen).toBeLessThanOrEqual(1);
    await h.manager.stop({ timeout: '1s' });
  });

  it('pruning runs on its own timer: a pass never waits for it, even when it never ends', async () => {
    let prunes = 0;
    const backend = wrapQueue(await bc.make(), 'prune', () => {
      prunes++;
      return new Promise(() => {}); // a prune step that never returns
    });
    const h = await harness(backend, { capacity: 100, logger: { warn: () => {} } });
    await h.manager.start();
    await h.advance(100);
    expect(prunes).toBe(1);
    for (const id of ['p1', 'p2']) await h.manager.sendOrEnqueue([h.msg(id)], 'normal');
    await backend
      .queue<string>('default')
      .add(
        [{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'p3', payload: 'x' }] }],
        h.clock.now(),
      );
    await h.advance(500);
    expect(h.sent().sort()).toEqual(['p1', 'p2', 'p3']);
    const stopping = h.manager.stop({ timeout: '1s' });
    await h.clock.advance(1_000);
    await stopping;
  });

  it("a receiver's retry-after answers do not use up retry.maxAttempts", async () => {
    const answers = ['wait', 'wait', 'wait', 'fail', 'fail'];
    const h = await harness(await bc.make(), {
      capacity: 100,
      retry: { maxAttempts: 2, baseDelay: 100, maxDelay: 100 },
      behave: () => {
        const answer = answers.shift();
        if (answer === 'wait') throw new RetryAfterError(100);
        if (answer === 'fail') throw new Error('HTTP 500');
      },
    });
    const attempts: number[] = [];
    h.manager.on('retry', (e) => attempts.push(e.attempt));
    await h.manager.start();
    await h.manager.sendOrEnqueue([h.msg('w1')], 'normal');
    for (let i = 0; i < 20; i++) await h.advance(100);
    // Three waits, then two real failures: dead-lettered only at the second (maxAttempts 2).
    expect(answers).toEqual([]);
    expect(attempts).toEqual([1, 1, 1, 1]);
    expect(await h.manager.getMessageRecord('w1')).toMatchObject({ status: 'dead-lettered', attempts: 2 });
    await h.manager.stop();
  });

  it('a receiver that always answers retry-after is bounded by retry.maxRetryAfter', async () => {
    const h = await harness(await bc.make(), {
      capacity: 100,
      retry: { maxAttempts: 5, maxRetryAfter: 3 },
      behave: () => {
        throw new RetryAfterError(100);
      },
    });
    await h.manager.start();
    await h.manager.sendOrEnqueue([h.msg('r1')], 'normal');
    for (let i = 0; i < 20; i++) await h.advance(100);
    expect(h.deliveries).toHaveLength(0); // every try threw
    const record = await h.manager.getMessageRecord('r1');
    expect(record).toMatchObject({ status: 'dead-lettered' });
    expect(record?.lastError).toContain('retry-after');
    const [dead] = await h.manager.deadLetters();
    expect(dead?.messages.map((m) => m.id)).toEqual(['r1']);
    await h.manager.stop();
  });
});

/** The backend with one queue method wrapped: `around(call, args)` decides when (and whether) to call it. */
function wrapQueue(
  backend: Backend,
  method: keyof QueueStore,
  around: (call: () => unknown, args: unknown[]) => unknown,
): Backend {
  const wrap = <T>(queue: QueueStore<T>): QueueStore<T> =>
    new Proxy(queue, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        if (prop !== method) return value.bind(target);
        return (...args: unknown[]) =>
          around(() => (value as (...a: unknown[]) => unknown).apply(target, args), args);
      },
    });
  return new Proxy(backend, {
    get(target, prop, receiver) {
      if (prop === 'queue') return (name?: string) => wrap(target.queue(name));
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
