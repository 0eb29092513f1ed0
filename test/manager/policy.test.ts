import { afterEach, describe, expect, it } from 'vitest';
import { settle } from '../../src/core/clock.js';
import { DuplicateMessageError, InvalidArgumentError } from '../../src/core/errors.js';
import { backendCases, harness } from './harness.js';

describe.each(backendCases())('RateLimitManager policy on $name', (bc) => {
  afterEach(() => bc.cleanup());

  /** Uses `count` messages of quota with critical singles (sent under low quota too). */
  async function consume(h: Awaited<ReturnType<typeof harness>>, count: number, prefix = 'use') {
    for (let i = 0; i < count; i++) {
      expect(await h.manager.sendOrEnqueue([h.msg(`${prefix}${i}`)], 'critical')).toBe('passed-to-sender');
      await settle(2);
    }
  }

  it('sends at once while quota is available and records the status', async () => {
    const h = await harness(await bc.make());
    expect(await h.manager.sendOrEnqueue([h.msg('a'), h.msg('b')], 'normal')).toBe('passed-to-sender');
    await settle(5);
    expect(h.deliveries).toHaveLength(1);
    expect(h.deliveries[0]!.ids).toEqual(['a', 'b']);
    expect(await h.manager.getQuota()).toEqual({ remaining: 8, total: 10 });
    expect(await h.manager.getMessageStatus('a')).toBe('passed-to-sender');
    const record = await h.manager.getMessageRecord('b');
    expect(record).toMatchObject({
      status: 'passed-to-sender',
      priority: 'normal',
      attempts: 0,
      lastError: null,
    });
    expect(await h.manager.getMessageStatus('never-seen')).toBeUndefined();
    await h.manager.stop();
  });

  it('under low quota: critical sent, normal enqueued, optional dropped', async () => {
    const h = await harness(await bc.make());
    await consume(h, 7); // 3 left of 10 = 30 % → low
    expect(await h.manager.getQuota()).toEqual({ remaining: 3, total: 10 });
    expect(await h.manager.sendOrEnqueue([h.msg('c')], 'critical')).toBe('passed-to-sender');
    expect(await h.manager.sendOrEnqueue([h.msg('n')], 'normal')).toBe('enqueued');
    expect(await h.manager.sendOrEnqueue([h.msg('o')], 'optional')).toBe('dropped');
    expect(await h.manager.getMessageStatus('n')).toBe('enqueued');
    expect(await h.manager.getMessageStatus('o')).toBe('dropped');
    await settle(5);
    expect(h.sent()).toContain('c');
    expect(h.sent()).not.toContain('n');
  });

  it('just above the low threshold everything is sent', async () => {
    const h = await harness(await bc.make());
    await consume(h, 6); // 4 left > 3
    expect(await h.manager.sendOrEnqueue([h.msg('o')], 'optional')).toBe('passed-to-sender');
  });

  it('under exhausted quota: critical and normal enqueued, optional dropped', async () => {
    const h = await harness(await bc.make());
    await consume(h, 7);
    expect(await h.manager.sendOrEnqueue([h.msg('c1'), h.msg('c2'), h.msg('c3')], 'critical')).toBe(
      'passed-to-sender',
    );
    expect(await h.manager.getQuota()).toEqual({ remaining: 0, total: 10 });
    expect(await h.manager.sendOrEnqueue([h.msg('c')], 'critical')).toBe('enqueued');
    expect(await h.manager.sendOrEnqueue([h.msg('n')], 'normal')).toBe('enqueued');
    expect(await h.manager.sendOrEnqueue([h.msg('o')], 'optional')).toBe('dropped');
    const stats = await h.manager.stats();
    expect(stats.queued).toEqual({ critical: 1, normal: 1, optional: 0 });
    expect(stats.counters.dropped).toBe(1);
  });

  it('a batch larger than the remaining quota is exhausted as a whole, never split', async () => {
    const h = await harness(await bc.make());
    await consume(h, 8); // 2 left
    expect(await h.manager.sendOrEnqueue([h.msg('x1'), h.msg('x2'), h.msg('x3')], 'critical')).toBe(
      'enqueued',
    );
    await h.manager.start();
    await h.advance(5_000);
    expect(h.sent()).not.toContain('x1');
    await h.advance(5_100); // the window has passed
    const batch = h.deliveries.find((d) => d.ids.includes('x1'));
    expect(batch?.ids).toEqual(['x1', 'x2', 'x3']);
    await h.manager.stop();
  });

  it('drops batches above maxBatchFraction of capacity (configurable)', async () => {
    const h = await harness(await bc.make());
    const four = ['a', 'b', 'c', 'd'].map((id) => h.msg(id));
    expect(await h.manager.sendOrEnqueue(four, 'critical')).toBe('dropped-batch-too-large');
    expect(await h.manager.getMessageStatus('a')).toBe('dropped-batch-too-large');
    expect(await h.manager.sendOrEnqueue(four.slice(0, 3), 'critical')).toBe('passed-to-sender');
    const wide = await harness(await bc.make(), { maxBatchFraction: 0.5 });
    expect(await wide.manager.sendOrEnqueue(four, 'critical')).toBe('passed-to-sender');
  });

  it('drains critical before normal when quota returns, FIFO within a priority', async () => {
    const h = await harness(await bc.make(), { concurrency: 1 });
    await consume(h, 10);
    for (const id of ['n1', 'n2'])
      expect(await h.manager.sendOrEnqueue([h.msg(id)], 'normal')).toBe('enqueued');
    for (const id of ['c1', 'c2'])
      expect(await h.manager.sendOrEnqueue([h.msg(id)], 'critical')).toBe('enqueued');
    await h.manager.start();
    await h.advance(10_100);
    expect(h.sent().slice(10)).toEqual(['c1', 'c2', 'n1', 'n2']);
    await h.manager.stop();
  });

  it('keeps the low-quota reserve for critical messages when draining', async () => {
    const h = await harness(await bc.make());
    await consume(h, 10);
    for (let i = 0; i < 9; i++)
      expect(await h.manager.sendOrEnqueue([h.msg(`n${i}`)], 'normal')).toBe('enqueued');
    await h.manager.start();
    await h.advance(10_100);
    // 10 back; normal drains only while more than 3 are left: 7 go, 3 are kept for critical.
    expect(h.sent().filter((id) => id.startsWith('n'))).toHaveLength(7);
    expect(await h.manager.getQuota()).toEqual({ remaining: 3, total: 10 });
    expect(await h.manager.sendOrEnqueue([h.msg('c')], 'critical')).toBe('passed-to-sender');
    expect((await h.manager.stats()).queued.normal).toBe(2);
    await h.manager.stop();
  });

  it('queues an available batch behind older waiting messages of the same or higher priority', async () => {
    const h = await harness(await bc.make(), { concurrency: 1 });
    await consume(h, 10);
    expect(await h.manager.sendOrEnqueue([h.msg('n1')], 'normal')).toBe('enqueued');
    await h.advance(10_100); // quota is back, the loop is not running: n1 still waits
    expect(await h.manager.getQuota()).toEqual({ remaining: 10, total: 10 });
    expect(await h.manager.sendOrEnqueue([h.msg('n2')], 'normal')).toBe('enqueued');
    expect(await h.manager.sendOrEnqueue([h.msg('o1')], 'optional')).toBe('enqueued');
    expect(await h.manager.sendOrEnqueue([h.msg('c1')], 'critical')).toBe('passed-to-sender');
    await h.manager.start();
    await h.advance(100);
    expect(h.sent().slice(10)).toEqual(['c1', 'n1', 'n2', 'o1']);
    await h.manager.stop();
  });

  it('rejects bad input with typed errors and leaves the queue untouched', async () => {
    const h = await harness(await bc.make());
    await consume(h, 10);
    expect(await h.manager.sendOrEnqueue([h.msg('q1')], 'normal')).toBe('enqueued');
    await expect(h.manager.sendOrEnqueue([], 'normal')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(h.manager.sendOrEnqueue([h.msg('d'), h.msg('d')], 'normal')).rejects.toThrow(/distinct/);
    await expect(h.manager.sendOrEnqueue([h.msg('z')], 'urgent' as never)).rejects.toThrow(/priority/);
    await expect(h.manager.sendOrEnqueue([{ id: '', payload: 'x' }], 'normal')).rejects.toThrow(
      /batch\[0\]\.id/,
    );
    await expect(h.manager.sendOrEnqueue([h.msg('new'), h.msg('q1')], 'normal')).rejects.toBeInstanceOf(
      DuplicateMessageError,
    );
    expect(await h.manager.getMessageStatus('new')).toBeUndefined();
    expect((await h.manager.stats()).queued.normal).toBe(1);
    expect(await h.manager.getMessageStatus('q1')).toBe('enqueued');
  });
});
