/**
 * What a new user found (issue 12), each pinned by a test on memory and SQLite: a throwing listener, the
 * concurrency cap on the direct path, background errors with nobody listening, stop({ timeout }), a store
 * fault in the middle of a pass, and partial outcomes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, QueueStore } from '../../src/backends/types.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { RetryAfterError } from '../../src/manager/sender-errors.js';
import { backendCases, harness, T0 } from './harness.js';

describe.each(backendCases())('RateLimitManager hardening on $name', (bc) => {
  afterEach(() => bc.cleanup());

  it('a throwing `sent` listener changes nothing: each message is delivered once, none dead-lettered', async () => {
    const warnings: unknown[] = [];
    const h = await harness(await bc.make(), {
      capacity: 100,
      retry: { maxAttempts: 5 },
      logger: { warn: (obj) => warnings.push(obj.err) },
    });
    h.manager.on('sent', () => {
      throw new Error('listener bug');
    });
    await h.manager.start();
    for (let i = 0; i < 10; i++) await h.manager.sendOrEnqueue([h.msg(`m${i}`)], 'normal');
    await h.advance(60_000);
    expect(h.sent().sort()).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
    const stats = await h.manager.stats();
    expect(stats.counters).toMatchObject({ delivered: 10, deadLettered: 0, retried: 0 });
    expect(warnings.length).toBe(10);
    expect(String(warnings[0])).toContain("a 'sent' listener threw: Error: listener bug");
    await h.manager.stop();
  });

  it('concurrency holds on the direct path: 10 offers in one tick, at most 2 batches in the sender', async () => {
    const backend = await bc.make();
    const clock = new FakeClock(T0);
    let inSender = 0;
    let most = 0;
    const release: Array<() => void> = [];
    const manager = new RateLimitManager<string>({
      backend,
      clock,
      capacity: 1_000,
      duration: '1m',
      concurrency: 2,
      sender: async () => {
        inSender++;
        most = Math.max(most, inSender);
        await new Promise<void>((r) => release.push(r));
        inSender--;
      },
    });
    await manager.start();
    const statuses = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        manager.sendOrEnqueue([{ id: `c${i}`, payload: 'x' }], 'critical'),
      ),
    );
    expect(statuses.filter((s) => s === 'passed-to-sender')).toHaveLength(2);
    expect(statuses.filter((s) => s === 'enqueued')).toHaveLength(8);
    for (let round = 0; round < 20 && release.length + inSender > 0; round++) {
      for (const r of release.splice(0)) r();
      await clock.advance(100);
      await settle(5);
    }
    expect(most).toBe(2);
    expect((await manager.stats()).counters.delivered).toBe(10);
    await manager.stop();
  });

  it('background errors go to `error` listeners, or to the logger when nobody listens', async () => {
    const backend = await bc.make();
    const warnings: string[] = [];
    const failing = failOn(backend, 'claim', () => true);
    const h = await harness(failing, { logger: { warn: (obj, msg) => warnings.push(`${msg}: ${obj.err}`) } });
    await h.manager.start();
    await h.advance(300);
    expect(warnings.length).toBeGreaterThan(0);
    expect(warnings[0]).toContain('injected claim failure');
    const errors: Error[] = [];
    h.manager.on('error', (e) => errors.push(e));
    const before = warnings.length;
    await h.advance(300);
    expect(errors.length).toBeGreaterThan(0);
    expect(warnings.length).toBe(before);
    await h.manager.stop();
  });

  it('stop({ timeout }) bounds the wait even when the loop is stuck in the store', async () => {
    const backend = await bc.make();
    const stuck = failOn(backend, 'claim', () => 'hang');
    const h = await harness(stuck, { logger: { warn: () => {} } });
    await h.manager.start();
    await h.advance(100);
    let stopped = false;
    const stopping = h.manager.stop({ timeout: '2s' }).then(() => {
      stopped = true;
    });
    await h.advance(1_000);
    expect(stopped).toBe(false);
    await h.advance(1_000);
    await stopping;
    expect(stopped).toBe(true);
  });

  it('a limiter fault in a pass returns every claimed job and charges nothing', async () => {
    const backend = await bc.make();
    const h = await harness(backend, { capacity: 100, logger: { warn: () => {} } });
    // Three queued jobs, then the pass's decision fails once.
    const queue = backend.queue<string>('default');
    for (const id of ['q1', 'q2', 'q3']) {
      await queue.add([{ priority: 'normal', lane: '', scopes: [], messages: [{ id, payload: id }] }], T0);
    }
    const real = h.manager.limiter.tryAcquireMany.bind(h.manager.limiter);
    let failures = 0;
    h.manager.limiter.tryAcquireMany = async (requests) => {
      if (failures === 0) {
        failures++;
        throw new Error('injected decideMany failure');
      }
      return real(requests);
    };
    await h.manager.start();
    await settle(5);
    expect(failures).toBe(1);
    // The claimed jobs went back (not left leased until their lease ends), in their order.
    const stats = await h.manager.stats();
    expect(stats.inFlight).toBe(0);
    expect(stats.queued.normal + h.sent().length).toBe(3);
    await h.advance(1_000);
    expect(h.sent().sort()).toEqual(['q1', 'q2', 'q3']);
    // Charged once each: the failed pass charged nothing.
    expect((await h.manager.getQuota()).remaining).toBe(100 - 3);
    await h.manager.stop();
  });

  it('a partial outcome naming no message of the batch is a failure of the whole batch, not a success', async () => {
    const h = await harness(await bc.make(), { capacity: 100 });
    const manager = new RateLimitManager<string>({
      backend: await bc.make(),
      clock: h.clock,
      capacity: 100,
      duration: '1m',
      random: () => 0.5,
      sender: async () => ({ failed: [{ id: 'not-in-batch', error: new Error('HTTP 503') }] }),
    });
    await manager.start();
    expect(await manager.sendOrEnqueue([{ id: 'u1', payload: 'x' }], 'normal')).toBe('passed-to-sender');
    await settle(5);
    expect(await manager.getMessageRecord('u1')).toMatchObject({ status: 'retrying', attempts: 1 });
    expect((await manager.stats()).counters.delivered).toBe(0);
    await manager.stop({ timeout: '1s' });
  });

  it('stop() waits for a direct send that is between its checks and the sender', async () => {
    const backend = await bc.make();
    const clock = new FakeClock(T0);
    const sent: string[] = [];
    const manager = new RateLimitManager<string>({
      backend,
      clock,
      capacity: 100,
      duration: '1m',
      sender: async (batch) => {
        sent.push(...batch.map((m) => m.id));
      },
    });
    await manager.start();
    const offer = manager.sendOrEnqueue([{ id: 'late', payload: 'x' }], 'critical');
    const stopped = manager.stop();
    expect(await offer).toBe('passed-to-sender');
    await stopped;
    // Stopped means recorded: the delivery of the offer in progress is written before stop() returns.
    expect(sent).toEqual(['late']);
    expect((await manager.stats()).counters.delivered).toBe(1);
  });

  it('a partial outcome: the four delivered messages are never sent again, the fifth is retried', async () => {
    const backend = await bc.make();
    const clock = new FakeClock(T0);
    const calls: string[][] = [];
    let first = true;
    const manager = new RateLimitManager<string>({
      backend,
      clock,
      capacity: 100,
      duration: '1m',
      random: () => 0.5,
      sender: async (batch) => {
        calls.push(batch.map((m) => m.id));
        if (first) {
          first = false;
          return { failed: [{ id: 'p3', error: new RetryAfterError(2_000) }] };
        }
      },
    });
    await manager.start();
    const batch = ['p1', 'p2', 'p3', 'p4', 'p5'].map((id) => ({ id, payload: `body ${id}` }));
    expect(await manager.sendOrEnqueue(batch, 'normal')).toBe('passed-to-sender');
    await settle(5);
    expect(await manager.getMessageRecord('p1')).toMatchObject({ status: 'passed-to-sender' });
    expect(await manager.getMessageRecord('p3')).toMatchObject({ status: 'retrying', attempts: 0 }); // a wait, not a failure
    await clock.advance(1_900);
    await settle(5);
    expect(calls).toEqual([['p1', 'p2', 'p3', 'p4', 'p5']]);
    await clock.advance(200);
    await settle(5);
    expect(calls).toEqual([['p1', 'p2', 'p3', 'p4', 'p5'], ['p3']]);
    const stats = await manager.stats();
    expect(stats.counters.delivered).toBe(5);
    expect(stats.inFlight + stats.retrying + stats.queued.normal).toBe(0);
    await manager.stop();
  });

  it('a batch delivered bit by bit between retry-after answers is not dead-lettered by retry.maxRetryAfter', async () => {
    const clock = new FakeClock(T0);
    // Each try delivers one message; the receiver says "retry after 1 s" to the rest.
    const manager = new RateLimitManager<string>({
      backend: await bc.make(),
      clock,
      capacity: 100,
      duration: '1m',
      random: () => 0.5,
      retry: { maxRetryAfter: 3 },
      sender: async (batch) => {
        const [, ...rest] = batch;
        if (rest.length === 0) return;
        return { failed: rest.map((m) => ({ id: m.id, error: new RetryAfterError(1_000) })) };
      },
    });
    const dead: string[] = [];
    manager.on('dead-lettered', ({ ids }) => dead.push(...ids));
    await manager.start();
    const batch = Array.from({ length: 8 }, (_, i) => ({ id: `s${i}`, payload: `body ${i}` }));
    expect(await manager.sendOrEnqueue(batch, 'normal')).toBe('passed-to-sender');
    for (let i = 0; i < 10; i++) {
      await clock.advance(1_100);
      await settle(5);
    }
    expect(dead).toEqual([]);
    expect((await manager.stats()).counters.delivered).toBe(8);
    await manager.stop();
  });
});

/**
 * The backend with one queue method replaced: `decide()` says, per call, whether to throw (true), hang
 * forever ('hang') or pass (false).
 */
function failOn(backend: Backend, method: keyof QueueStore, decide: () => boolean | 'hang'): Backend {
  const wrap = <T>(queue: QueueStore<T>): QueueStore<T> =>
    new Proxy(queue, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (prop !== method || typeof value !== 'function')
          return typeof value === 'function' ? value.bind(target) : value;
        return (...args: unknown[]) => {
          const d = decide();
          if (d === 'hang') return new Promise(() => {});
          if (d) throw new Error(`injected ${String(method)} failure`);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
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
