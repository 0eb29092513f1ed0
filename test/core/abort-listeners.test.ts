import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { FakeClock, systemClock } from '../../src/core/clock.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

/** Node warns past 10 listeners on one EventTarget: a user's one shutdown signal for many waiters is normal. */
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
beforeEach(() => {
  warnings.length = 0;
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
const leaks = () => warnings.filter((w) => w.name === 'MaxListenersExceededWarning');

describe('one AbortSignal shared by many waiters', () => {
  it('50 sleepers on the system clock and on a fake clock: no listener warning; abort wakes them all', async () => {
    const controller = new AbortController();
    const fake = new FakeClock(0);
    const sleeps = [
      ...Array.from({ length: 50 }, () => systemClock.sleep(60_000, controller.signal)),
      ...Array.from({ length: 50 }, () => fake.sleep(60_000, controller.signal)),
    ];
    await settle();
    expect(leaks()).toEqual([]);
    controller.abort();
    const outcomes = await Promise.allSettled(sleeps);
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    expect(fake.pending).toBe(0);
  });

  it('50 acquire() calls waiting on one scope with one signal: no listener warning; abort rejects them all', async () => {
    const clock = new FakeClock(0);
    const limiter = new RateLimiter({
      backend: new MemoryBackend(),
      clock,
      scopes: { 'chat:*': { limit: 1, window: '1m' } },
    });
    const controller = new AbortController();
    await limiter.acquire({ scopes: 'chat:1' });
    const waits = Array.from({ length: 50 }, () =>
      limiter.acquire({ scopes: 'chat:1' }, { signal: controller.signal }),
    );
    await settle();
    expect(leaks()).toEqual([]);
    controller.abort();
    const outcomes = await Promise.allSettled(waits);
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(50);
  });

  it('a sleeper that finishes leaves nothing behind: 200 sequential sleeps on one signal', async () => {
    const controller = new AbortController();
    for (let i = 0; i < 200; i++) await systemClock.sleep(0, controller.signal);
    await settle();
    expect(leaks()).toEqual([]);
  });
});

describe('whenAborted', () => {
  it('a subscriber that throws does not keep the others (and a sleeper) from being woken', async () => {
    const { whenAborted } = await import('../../src/core/abort.js');
    const controller = new AbortController();
    const calls: number[] = [];
    const thrown: unknown[] = [];
    const onUncaught = (error: unknown) => thrown.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      whenAborted(controller.signal, () => calls.push(1));
      whenAborted(controller.signal, () => {
        throw new Error('subscriber 2');
      });
      whenAborted(controller.signal, () => calls.push(3));
      const sleep = systemClock.sleep(60_000, controller.signal);
      controller.abort();
      await expect(sleep).rejects.toThrow();
      expect(calls).toEqual([1, 3]);
      await settle();
      expect(thrown.map((e) => (e as Error).message)).toEqual(['subscriber 2']);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('subscribing to a signal already aborted calls back in a microtask (unless cancelled)', async () => {
    const { whenAborted } = await import('../../src/core/abort.js');
    const controller = new AbortController();
    controller.abort();
    const calls: string[] = [];
    whenAborted(controller.signal, () => calls.push('called'));
    const cancel = whenAborted(controller.signal, () => calls.push('cancelled one'));
    cancel();
    expect(calls).toEqual([]);
    await Promise.resolve();
    expect(calls).toEqual(['called']);
  });
});
