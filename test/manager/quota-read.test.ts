import { afterEach, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backends/types.js';
import { FakeClock } from '../../src/core/clock.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { backendCases, T0 } from './harness.js';

/** Counts the limit store's inspect calls (the real store answers them). */
function countInspects(backend: Backend): { count: number } {
  const counter = { count: 0 };
  const limits = backend.limits;
  const inspect = limits.inspect.bind(limits);
  limits.inspect = (plan, now) => {
    counter.count++;
    return inspect(plan, now);
  };
  return counter;
}

describe.each(backendCases())('manager quota reads on $name', (bc) => {
  afterEach(() => bc.cleanup());

  it('offers made in one synchronous run read the quota once, and the next run reads it again', async () => {
    const backend = await bc.make();
    const clock = new FakeClock(T0);
    const manager = new RateLimitManager<string>({
      backend,
      clock,
      capacity: 10,
      duration: '10s',
      sender: () => {},
    });
    await manager.limiter.adjust({ scopes: manager.scope, delta: 10 }); // exhausted: every offer is queued
    const inspects = countInspects(backend);
    const offers = Array.from({ length: 50 }, (_, i) =>
      manager.sendOrEnqueue([{ id: `q${i}`, payload: 'x' }]),
    );
    // (On SQLite the offers of a loop turn read inside the turn's transaction, after this line.)
    expect(new Set(await Promise.all(offers))).toEqual(new Set(['enqueued']));
    expect(inspects.count).toBe(1);
    // The clock moving within one run is a new read (before start(): no loop reads in between).
    const before = inspects.count;
    const o1 = manager.sendOrEnqueue([{ id: 'o1', payload: 'x' }], 'optional');
    clock.set(clock.now() + 1);
    const o2 = manager.sendOrEnqueue([{ id: 'o2', payload: 'x' }], 'optional');
    await Promise.all([o1, o2]);
    expect(inspects.count).toBe(before + 2);
    // A later run reads again and sees what changed in between (quota returned: sent at once).
    await manager.limiter.adjust({ scopes: manager.scope, delta: -10 });
    await manager.start();
    expect(await manager.sendOrEnqueue([{ id: 'c1', payload: 'x' }], 'critical')).not.toBe('dropped');
    expect(inspects.count).toBeGreaterThan(before + 2);
    await manager.stop();
    await backend.close();
  });
});
