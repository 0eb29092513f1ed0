import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { EndpointChooser } from '../../src/server/endpoint-choice.js';
import { compileTargets, endpointRules } from '../../src/server/targets.js';
import { T0 } from './helpers.js';

function setup() {
  const targets = compileTargets({
    hooks: {
      url: 'http://127.0.0.1:1/a',
      method: 'POST',
      headers: {},
      timeout: '1s',
      limits: [{ limit: 2, window: '1s' }],
      overflow: [
        { url: 'http://127.0.0.1:1/b', limits: [{ limit: 3, window: '1s' }] },
        { url: 'http://127.0.0.1:1/c', limits: [{ limit: 3, window: '1s' }] },
      ],
    },
  });
  const clock = new FakeClock(T0);
  const limiter = new RateLimiter({ backend: new MemoryBackend(), clock, scopes: endpointRules(targets) });
  return { target: targets.get('hooks')!, clock, limiter, chooser: new EndpointChooser(limiter, clock) };
}

describe('EndpointChooser', () => {
  it('primary while it has quota, then the overflow endpoints round-robin, each on its own limits', async () => {
    const { target, chooser } = setup();
    const picks: number[] = [];
    for (let i = 0; i < 8; i++) picks.push((await chooser.choose(target, undefined)).index);
    expect(picks).toEqual([0, 0, 1, 2, 1, 2, 1, 2]);
  });

  it('waits exactly until the first endpoint has quota again; an abort ends the wait', async () => {
    const { target, chooser, clock, limiter } = setup();
    for (let i = 0; i < 8; i++) await chooser.choose(target, undefined);
    let picked: number | undefined;
    const waiting = chooser.choose(target, undefined).then((e) => {
      picked = e.index;
    });
    const retry = (await limiter.peek({ scopes: 'target:hooks#0' })).retryAfterMs;
    expect(retry).toBeGreaterThan(0);
    await clock.advance(retry - 1);
    expect(picked).toBeUndefined();
    await clock.advance(1);
    await waiting;
    expect(picked).toBe(0);
    const controller = new AbortController();
    for (let i = 0; i < 7; i++) await chooser.choose(target, undefined); // every endpoint used up again
    const aborted = chooser.choose(target, undefined, controller.signal);
    controller.abort(new Error('stopping'));
    await expect(aborted).rejects.toThrow('stopping');
  });

  it('a blocked endpoint (a 429) is skipped; the one the manager chose is used as is', async () => {
    const { target, chooser, limiter } = setup();
    await limiter.block('target:hooks#0', 5000);
    expect((await chooser.choose(target, undefined)).index).toBe(1);
    const before = (await limiter.stats('target:hooks#2'))[0]!.used;
    expect((await chooser.choose(target, 2)).index).toBe(2);
    expect((await limiter.stats('target:hooks#2'))[0]!.used).toBe(before); // not charged again
  });
});
