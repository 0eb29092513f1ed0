/**
 * A clock with only `now()` (the shape SPEC §3 documents) is a valid clock everywhere: its waits use real
 * timers. The waits here are tens of milliseconds of real time and nothing asserts speed: the rate math is
 * driven by the test's own `now()`, which only moves when the test moves it.
 */
import { describe, expect, it } from 'vitest';
import { type ClockLike, FakeClock, systemClock, toClock } from '../../src/core/clock.js';
import { AbortError, InvalidArgumentError } from '../../src/core/errors.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { RateLimitManager } from '../../src/manager/manager.js';

const T0 = 1_700_000_000_000;

/** A clock with nothing but `now()`, moved by hand. */
function nowOnly(start = T0) {
  let t = start;
  const clock: ClockLike = { now: () => t };
  return {
    clock,
    set: (ms: number) => {
      t = ms;
    },
  };
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('toClock', () => {
  it('gives the system clock for undefined and a full clock back as it is', () => {
    expect(toClock(undefined)).toBe(systemClock);
    const fake = new FakeClock(5);
    expect(toClock(fake)).toBe(fake);
  });

  it('completes a now()-only clock with real-timer sleeps that honour the signal', async () => {
    const { clock } = nowOnly(42);
    const full = toClock(clock);
    expect(full.now()).toBe(42);
    const before = Date.now();
    await full.sleep(15);
    expect(Date.now() - before).toBeGreaterThanOrEqual(14);
    const controller = new AbortController();
    const slept = full.sleep(60_000, controller.signal);
    controller.abort();
    await expect(slept).rejects.toBeInstanceOf(AbortError);
  });

  it('keeps `this` for a now() that is a method', () => {
    class Offset {
      readonly base = 1_000;
      now(): number {
        return this.base + 1;
      }
    }
    expect(toClock(new Offset()).now()).toBe(1_001);
  });

  it('refuses what is not a clock, naming the field', () => {
    for (const [bad, field] of [
      [null, 'clock'],
      [42, 'clock'],
      [{}, 'clock.now'],
      [{ now: 5 }, 'clock.now'],
      [{ now: () => 0, sleep: 'soon' }, 'clock.sleep'],
    ] as const) {
      let caught: unknown;
      try {
        toClock(bad as unknown as ClockLike);
      } catch (error) {
        caught = error;
      }
      expect(caught, JSON.stringify(bad)).toBeInstanceOf(InvalidArgumentError);
      expect((caught as InvalidArgumentError).field).toBe(field);
    }
  });
});

describe('RateLimiter with a now()-only clock', () => {
  it('decides on its time and waits on real timers until its time admits', async () => {
    const { clock, set } = nowOnly();
    const limiter = new RateLimiter({ clock, scopes: { chat: { limit: 1, window: '50ms' } } });
    expect((await limiter.tryAcquire({ scopes: 'chat' })).allowed).toBe(true);
    const refused = await limiter.tryAcquire({ scopes: 'chat' });
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterMs).toBeGreaterThanOrEqual(50);
    // acquire sleeps on a real timer for the computed wait; meanwhile the clock's time moves past it.
    const waiting = limiter.acquire({ scopes: 'chat' });
    setTimeout(() => set(T0 + 100), 5);
    expect((await waiting).allowed).toBe(true);
    expect(limiter.clock.now()).toBe(T0 + 100);
  });

  it('rejects an aborted wait with AbortError and charges nothing', async () => {
    const { clock } = nowOnly();
    const limiter = new RateLimiter({ clock, scopes: { chat: { limit: 1, window: '1m' } } });
    await limiter.tryAcquire({ scopes: 'chat' });
    const controller = new AbortController();
    const waiting = limiter.acquire({ scopes: 'chat' }, { signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    await expect(waiting).rejects.toBeInstanceOf(AbortError);
    const [stats] = await limiter.stats('chat');
    expect(stats).toMatchObject({ used: 1, remaining: 0 });
  });

  it('times out on real timers too', async () => {
    const { clock } = nowOnly();
    const limiter = new RateLimiter({ clock, scopes: { chat: { limit: 1, window: '1m' } } });
    await limiter.tryAcquire({ scopes: 'chat' });
    await expect(limiter.acquire({ scopes: 'chat' }, { timeout: 20 })).rejects.toMatchObject({
      code: 'ERR_TIMEOUT',
    });
  });

  it('still refuses a clock without now()', () => {
    expect(() => new RateLimiter({ clock: { sleep: async () => {} } as unknown as ClockLike })).toThrow(
      InvalidArgumentError,
    );
  });
});

describe('RateLimitManager with a now()-only clock', () => {
  it('sends, queues, drains as its time returns quota, and stops', async () => {
    const { clock, set } = nowOnly();
    const delivered: string[] = [];
    const manager = new RateLimitManager<string>({
      clock,
      capacity: 2,
      duration: '10s',
      sleep: '5ms',
      maxBatchFraction: 1,
      lowQuotaThreshold: 0,
      sender: async (batch) => {
        delivered.push(...batch.map((m) => m.id));
      },
    });
    expect(manager.clock.now()).toBe(T0);
    await manager.start();
    expect(await manager.sendOrEnqueue([{ id: 'a', payload: 'x' }])).toBe('passed-to-sender');
    expect(await manager.sendOrEnqueue([{ id: 'b', payload: 'x' }])).toBe('passed-to-sender');
    expect(await manager.sendOrEnqueue([{ id: 'c', payload: 'x' }])).toBe('enqueued');
    await until(() => delivered.length === 2, 'the direct sends');
    set(T0 + 20_000);
    await until(async () => (await manager.getMessageStatus('c')) === 'passed-to-sender', 'the drain');
    await until(() => delivered.length === 3, 'the drained delivery');
    expect(delivered).toEqual(['a', 'b', 'c']);
    await manager.stop();
  });

  it('refuses a clock whose sleep is not a function', () => {
    expect(
      () =>
        new RateLimitManager({
          clock: { now: () => 0, sleep: 1 } as unknown as ClockLike,
          capacity: 1,
          duration: '1s',
          sender: async () => {},
        }),
    ).toThrow(/clock\.sleep/);
  });
});
