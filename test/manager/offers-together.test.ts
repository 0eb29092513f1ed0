import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { backendCases, T0 } from './harness.js';

describe.each(backendCases())('offers made together on $name', (bc) => {
  afterEach(() => bc.cleanup());

  it('keep the low-quota reserve: each counts the ones admitted before it, charged or not yet', async () => {
    const backend = await bc.make();
    const manager = new RateLimitManager<string>({
      backend,
      clock: new FakeClock(T0),
      capacity: 10,
      duration: '1m',
      lowQuotaThreshold: 0.3, // low from 3 left: normal messages wait
      sender: () => {},
    });
    await manager.start();
    try {
      const offers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => manager.sendOrEnqueue([{ id: `n${i}`, payload: 'x' }])),
      );
      expect(offers).toEqual([...Array(7).fill('passed-to-sender'), ...Array(3).fill('enqueued')]);
    } finally {
      await manager.stop();
      await backend.close();
    }
  });
});
