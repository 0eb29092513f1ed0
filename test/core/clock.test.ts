import { describe, expect, it } from 'vitest';
import { FakeClock, systemClock } from '../../src/core/clock.js';
import { AbortError } from '../../src/core/errors.js';

describe('FakeClock', () => {
  it('starts where told and moves only when advanced', async () => {
    const clock = new FakeClock(1_000);
    expect(clock.now()).toBe(1_000);
    let woke = false;
    void clock.sleep(100).then(() => {
      woke = true;
    });
    expect(clock.pending).toBe(1);
    await clock.advance(99);
    expect(woke).toBe(false);
    expect(clock.now()).toBe(1_099);
    await clock.advance(1);
    expect(woke).toBe(true);
    expect(clock.now()).toBe(1_100);
    expect(clock.pending).toBe(0);
  });

  it('wakes sleepers in time order (ties in call order), each seeing its own time', async () => {
    const clock = new FakeClock(0);
    const seen: Array<[string, number]> = [];
    const sleep = (name: string, ms: number) =>
      clock.sleep(ms).then(() => {
        seen.push([name, clock.now()]);
      });
    void sleep('c', 30);
    void sleep('a', 10);
    void sleep('b', 20);
    void sleep('a2', 10);
    await clock.advance(100);
    expect(seen).toEqual([
      ['a', 10],
      ['a2', 10],
      ['b', 20],
      ['c', 30],
    ]);
    expect(clock.now()).toBe(100);
  });

  it('lets a sleeper that sleeps again within the advance wake again', async () => {
    const clock = new FakeClock(0);
    const times: number[] = [];
    void (async () => {
      for (let i = 0; i < 5; i++) {
        await clock.sleep(100);
        times.push(clock.now());
      }
    })();
    await clock.advance(350);
    expect(times).toEqual([100, 200, 300]);
    await clock.advance(1_000);
    expect(times).toEqual([100, 200, 300, 400, 500]);
  });

  it('next() jumps to the next sleeper', async () => {
    const clock = new FakeClock(0);
    let woke = false;
    void clock.sleep(12.5).then(() => {
      woke = true;
    });
    expect(await clock.next()).toBe(true);
    expect(woke).toBe(true);
    expect(clock.now()).toBe(12.5);
    expect(await clock.next()).toBe(false);
    expect(clock.now()).toBe(12.5);
  });

  it('rejects with AbortError when aborted, and forgets the sleeper', async () => {
    const clock = new FakeClock(0);
    const controller = new AbortController();
    const slept = clock.sleep(100, controller.signal);
    controller.abort();
    await expect(slept).rejects.toBeInstanceOf(AbortError);
    expect(clock.pending).toBe(0);
    const already = new AbortController();
    already.abort(new Error('stop'));
    await expect(clock.sleep(5, already.signal)).rejects.toThrow('stop');
  });

  it('set() moves time without waking anyone; sleep(0) and negative sleeps wake on the next advance', async () => {
    const clock = new FakeClock(0);
    let woke = 0;
    void clock.sleep(50).then(() => woke++);
    clock.set(1_000);
    expect(clock.now()).toBe(1_000);
    expect(woke).toBe(0);
    void clock.sleep(0).then(() => woke++);
    void clock.sleep(-5).then(() => woke++);
    await clock.advance(0);
    expect(woke).toBe(3);
    expect(clock.now()).toBe(1_000);
  });
});

describe('systemClock', () => {
  it('sleeps on the wall clock and honours abort', async () => {
    const before = systemClock.now();
    await systemClock.sleep(5);
    expect(systemClock.now() - before).toBeGreaterThanOrEqual(4);
    const controller = new AbortController();
    const slept = systemClock.sleep(10_000, controller.signal);
    controller.abort();
    await expect(slept).rejects.toBeInstanceOf(AbortError);
  });
});
