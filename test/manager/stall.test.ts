/**
 * A process that stalls longer than its lease (an event loop blocked by a long synchronous job, a VM paused,
 * a laptop lid closed) must not redeliver its own batches when it wakes: the batch that finished before the
 * stall (its completion not recorded yet) and the batch still in the sender are this process's, and its
 * lease keeper still holds them. Only another process may take them over. Memory and SQLite; the stall is
 * a jump of the fake clock past the lease, with no timer fired in between.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/types.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { backendCases, T0 } from './harness.js';

describe.each(backendCases())('a stall past the lease on $name', (bc) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    bc.cleanup();
  });

  it('redelivers neither the delivered batch nor the one still in the sender', async () => {
    backend = await bc.make();
    const clock = new FakeClock(T0);
    const sent: string[] = [];
    let finishSlow: (() => void) | undefined;
    const manager = new RateLimitManager<string>({
      backend,
      clock,
      capacity: 10,
      duration: '10s',
      sleep: '100ms',
      maxBatchFraction: 1,
      lowQuotaThreshold: 0,
      sender: async (batch) => {
        sent.push(...batch.map((m) => m.id));
        if (batch[0]!.id === 'slow') await new Promise<void>((resolve) => (finishSlow = resolve));
      },
    });
    await manager.start();
    expect(await manager.sendOrEnqueue([{ id: 'fast', payload: 'x' }])).toBe('passed-to-sender');
    expect(await manager.sendOrEnqueue([{ id: 'slow', payload: 'x' }])).toBe('passed-to-sender');
    await settle(5);
    expect(sent).toEqual(['fast', 'slow']);
    // The stall: the clock jumps past the lease (5 s by default) and only then do the timers run.
    clock.set(T0 + 60_000);
    await clock.advance(100);
    await settle(5);
    await clock.advance(100);
    await settle(5);
    expect(sent).toEqual(['fast', 'slow']);
    finishSlow?.();
    await clock.advance(100);
    await settle(5);
    expect(await manager.getMessageStatus('fast')).toBe('passed-to-sender');
    expect(await manager.getMessageStatus('slow')).toBe('passed-to-sender');
    await manager.stop();
    expect(sent).toEqual(['fast', 'slow']);
  });
});
