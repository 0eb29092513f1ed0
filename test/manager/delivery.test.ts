import { afterEach, describe, expect, it } from 'vitest';
import { settle } from '../../src/core/clock.js';
import { PermanentError, RetryAfterError } from '../../src/manager/sender-errors.js';
import { backendCases, harness } from './harness.js';

describe.each(backendCases())('RateLimitManager delivery on $name', (bc) => {
  afterEach(() => bc.cleanup());

  it('retries with exponential backoff and full jitter, then dead-letters after maxAttempts', async () => {
    const failures: number[] = [];
    const h = await harness(await bc.make(), {
      capacity: 100,
      retry: { maxAttempts: 4, baseDelay: '1s', maxDelay: '3s' },
      random: () => 0.5,
      behave: (_ids, context) => {
        failures.push(context.attempt);
        throw new Error(`boom ${context.attempt}`);
      },
    });
    const retries: Array<{ attempt: number; delayMs: number }> = [];
    h.manager.on('retry', (e) => retries.push({ attempt: e.attempt, delayMs: e.delayMs }));
    const dead: string[][] = [];
    h.manager.on('dead-lettered', (e) => dead.push(e.ids));
    await h.manager.start();
    expect(await h.manager.sendOrEnqueue([h.msg('m')], 'normal')).toBe('passed-to-sender');
    await settle(5);
    // Ceilings 1s, 2s, 3s (capped); jitter 0.5 → waits 500, 1000, 1500 ms.
    expect(retries).toEqual([{ attempt: 1, delayMs: 500 }]);
    expect(await h.manager.getMessageRecord('m')).toMatchObject({
      status: 'retrying',
      attempts: 1,
      lastError: 'Error: boom 1',
    });
    await h.advance(499);
    expect(failures).toEqual([1]);
    await h.advance(101); // due at 500, the next pass (100 ms cadence) delivers
    expect(failures).toEqual([1, 2]);
    await h.advance(1_100);
    expect(failures).toEqual([1, 2, 3]);
    await h.advance(1_600);
    expect(failures).toEqual([1, 2, 3, 4]);
    expect(retries.map((r) => r.delayMs)).toEqual([500, 1000, 1500]);
    expect(dead).toEqual([['m']]);
    expect(await h.manager.getMessageRecord('m')).toMatchObject({
      status: 'dead-lettered',
      attempts: 4,
      lastError: 'Error: boom 4',
    });
    const letters = await h.manager.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ attempts: 4, lastError: 'Error: boom 4', priority: 'normal' });
    expect(letters[0]!.messages).toEqual([{ id: 'm', payload: 'payload of m' }]);
    expect((await h.manager.stats()).deadLettered).toBe(1);
    await h.manager.stop();
  });

  it('jitter stays within [0, ceiling) for every attempt', async () => {
    const delays: number[] = [];
    let r = 0;
    const randoms = [0, 0.999, 0.25, 0.75];
    const h = await harness(await bc.make(), {
      capacity: 100,
      retry: { maxAttempts: 5, baseDelay: '1s', maxDelay: '1m' },
      random: () => randoms[r++ % randoms.length]!,
      behave: () => {
        throw new Error('always');
      },
    });
    h.manager.on('retry', (e) => delays.push(e.delayMs));
    await h.manager.start();
    await h.manager.sendOrEnqueue([h.msg('j')], 'normal');
    for (let i = 0; i < 20; i++) await h.advance(1_000);
    expect(delays).toEqual([0, Math.floor(0.999 * 2000), 1000, 6000]);
    await h.manager.stop();
  });

  it('honours retry-after exactly and blocks the scope for everyone', async () => {
    let first = true;
    const h = await harness(await bc.make(), {
      capacity: 100,
      behave: (ids) => {
        if (ids[0] === 'r' && first) {
          first = false;
          throw new RetryAfterError(3_000);
        }
      },
    });
    await h.manager.start();
    expect(await h.manager.sendOrEnqueue([h.msg('r', 'chat:1')], 'normal')).toBe('passed-to-sender');
    await settle(5);
    expect(await h.manager.getMessageStatus('r')).toBe('retrying');
    const blocked = await h.manager.limiter.peek({ scopes: 'chat:1' });
    expect(blocked).toMatchObject({
      allowed: false,
      retryAfterMs: 3_000,
      blockedBy: { scope: 'chat:1', rule: 'block' },
    });
    // Another message to the same chat waits too.
    expect(await h.manager.sendOrEnqueue([h.msg('r2', 'chat:1')], 'normal')).toBe('enqueued');
    await h.advance(2_999);
    expect(h.sent()).toEqual([]);
    await h.advance(1);
    await h.advance(100);
    expect(h.sent()).toEqual(['r', 'r2']);
    const at = h.deliveries[0]!.at - h.deliveries[0]!.context.attempt; // delivered on the first pass after 3 s
    expect(at).toBeGreaterThanOrEqual(1_700_000_000_000 + 3_000 - 2);
    await h.manager.stop();
  });

  it('reads Telegram retry_after and HTTP Retry-After from plain errors', async () => {
    let n = 0;
    const h = await harness(await bc.make(), {
      capacity: 100,
      behave: () => {
        n++;
        if (n === 1) throw Object.assign(new Error('Too Many Requests'), { parameters: { retry_after: 2 } });
        if (n === 2) throw Object.assign(new Error('429'), { status: 429, headers: { 'Retry-After': '1' } });
      },
    });
    const delays: number[] = [];
    h.manager.on('retry', (e) => delays.push(e.delayMs));
    await h.manager.start();
    await h.manager.sendOrEnqueue([h.msg('t')], 'normal');
    await h.advance(2_100);
    await h.advance(1_100);
    expect(delays).toEqual([2_000, 1_000]);
    expect(await h.manager.getMessageStatus('t')).toBe('passed-to-sender');
    await h.manager.stop();
  });

  it('sends permanent failures straight to dead letters; replay and purge them', async () => {
    let fail = true;
    const h = await harness(await bc.make(), {
      capacity: 100,
      behave: () => {
        if (fail) throw new PermanentError('chat not found');
      },
    });
    await h.manager.start();
    await h.manager.sendOrEnqueue([h.msg('p1')], 'normal');
    await h.manager.sendOrEnqueue([h.msg('p2')], 'critical');
    await h.manager.sendOrEnqueue([h.msg('http')], 'normal');
    await settle(5);
    expect(await h.manager.getMessageRecord('p1')).toMatchObject({ status: 'dead-lettered', attempts: 1 });
    expect(await h.manager.deadLetters({ priority: 'critical' })).toHaveLength(1);
    expect(await h.manager.deadLetters({ messageIds: ['p1'] })).toHaveLength(1);
    fail = false;
    expect(await h.manager.replayDeadLetters({ messageIds: ['p1'] })).toBe(1);
    expect(await h.manager.getMessageStatus('p1')).toBe('enqueued');
    await h.advance(100);
    expect(await h.manager.getMessageStatus('p1')).toBe('passed-to-sender');
    expect(await h.manager.purgeDeadLetters({})).toBe(2);
    expect(await h.manager.deadLetters()).toEqual([]);
    expect(await h.manager.getMessageStatus('p2')).toBeUndefined();
    await h.manager.stop();
  });

  it('has no head-of-line blocking: chat A blocked for 10 s, chat B keeps flowing', async () => {
    let blockA = true;
    const h = await harness(await bc.make(), {
      capacity: 1_000,
      scopes: { 'chat:*': { limit: 100, window: '1s' } },
      behave: (ids) => {
        if (ids[0] === 'a0' && blockA) {
          blockA = false;
          throw new RetryAfterError(10_000);
        }
      },
    });
    await h.manager.start();
    expect(await h.manager.sendOrEnqueue([h.msg('a0', 'chat:A')], 'normal')).toBe('passed-to-sender');
    await settle(5);
    for (let i = 1; i <= 20; i++) await h.manager.sendOrEnqueue([h.msg(`a${i}`, 'chat:A')], 'normal');
    for (let i = 0; i < 5; i++) {
      expect(await h.manager.sendOrEnqueue([h.msg(`b${i}`, 'chat:B')], 'normal')).toBe('passed-to-sender');
      await h.advance(1_000);
    }
    expect(h.sent().filter((id) => id.startsWith('b'))).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    expect(h.sent().filter((id) => id.startsWith('a'))).toEqual([]);
    await h.advance(5_100);
    const a = h.sent().filter((id) => id.startsWith('a'));
    expect(a).toEqual(Array.from({ length: 21 }, (_, i) => `a${i}`));
    await h.manager.stop();
  });

  it('per-chat limits hold queued chats back without holding others', async () => {
    const h = await harness(await bc.make(), {
      capacity: 1_000,
      scopes: { 'chat:*': { limit: 1, window: '1s' } },
    });
    await h.manager.start();
    for (let i = 0; i < 3; i++) await h.manager.sendOrEnqueue([h.msg(`a${i}`, 'chat:A')], 'normal');
    // Older normal messages could go, so b0 queues behind them (order holds) — but is not held back by chat A.
    expect(await h.manager.sendOrEnqueue([h.msg('b0', 'chat:B')], 'normal')).toBe('enqueued');
    await h.advance(100);
    expect(h.sent()).toEqual(['a0', 'b0']);
    await h.advance(1_000);
    expect(h.sent()).toEqual(['a0', 'b0', 'a1']);
    await h.advance(100);
    // a1 went at +1100 ms; the sub-window log counts it until +2105 ms, so a2 goes on the pass at +2200 ms.
    await h.advance(1_000);
    expect(h.sent()).toEqual(['a0', 'b0', 'a1', 'a2']);
    expect(h.deliveries.map((d) => d.at - h.deliveries[0]!.at)).toEqual([0, 100, 1_100, 2_200]);
    await h.manager.stop();
  });

  it('stop() lets in-flight batches finish; stop({ drain }) empties the queue first', async () => {
    let resolveSlow!: () => void;
    const h = await harness(await bc.make(), { capacity: 10 });
    const slow = new Promise<void>((resolve) => {
      resolveSlow = resolve;
    });
    const manager = h.manager;
    await manager.start();
    const done: string[] = [];
    manager.on('sent', (e) => done.push(...e.ids));
    // A second manager whose sender hangs until released.
    const { RateLimitManager } = await import('../../src/manager/manager.js');
    const slowManager = new RateLimitManager<string>({
      capacity: 10,
      duration: '10s',
      backend: await bc.make(),
      clock: h.clock,
      sender: async () => slow,
    });
    await slowManager.start();
    expect(await slowManager.sendOrEnqueue([{ id: 's', payload: 'x' }], 'normal')).toBe('passed-to-sender');
    let stopped = false;
    const stopping = slowManager.stop().then(() => {
      stopped = true;
    });
    await settle(5);
    expect(stopped).toBe(false);
    resolveSlow();
    await stopping;
    expect(await slowManager.getMessageStatus('s')).toBe('passed-to-sender');
    expect((await slowManager.getMessageRecord('s'))?.deliveredAt).not.toBeNull();

    // drain: 10 sent now, 5 more queued; drain waits for the window to pass and delivers them.
    for (let i = 0; i < 15; i++) await manager.sendOrEnqueue([h.msg(`d${i}`)], 'critical');
    expect((await manager.stats()).queued.critical).toBe(5);
    let drained = false;
    const draining = manager.stop({ drain: true }).then(() => {
      drained = true;
    });
    await h.advance(5_000);
    expect(drained).toBe(false);
    await h.advance(5_200);
    await draining;
    expect(drained).toBe(true);
    expect(done).toHaveLength(15);
    const stats = await manager.stats();
    expect(stats.queued).toEqual({ critical: 0, normal: 0, optional: 0 });
    expect(stats.counters.delivered).toBe(15);
  });
});

describe('RateLimitManager stop without start', () => {
  it('waits for direct sends even when the loop never ran', async () => {
    const { MemoryBackend } = await import('../../src/index.js');
    const { RateLimitManager } = await import('../../src/manager/manager.js');
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const manager = new RateLimitManager<string>({
      capacity: 10,
      duration: '1s',
      backend: new MemoryBackend(),
      sender: () => gate,
    });
    expect(await manager.sendOrEnqueue([{ id: 'a', payload: 'x' }], 'normal')).toBe('passed-to-sender');
    let stopped = false;
    const stopping = manager.stop().then(() => {
      stopped = true;
    });
    await settle(5);
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect((await manager.getMessageRecord('a'))?.deliveredAt).not.toBeNull();
  });
});
