/**
 * Endpoint pools in the manager: a batch whose scope names a pool is admitted on one alternative, the
 * sender is told which, a queued batch keeps its pool, and a retry-after answer blocks the endpoint used.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import type { Rule } from '../../src/core/types.js';
import { RetryAfterError } from '../../src/manager/sender-errors.js';
import { backendCases, harness } from './harness.js';

const pools = { 'target:hooks': ['target:hooks#0', 'target:hooks#1', 'target:hooks#2'] };
const scopes: Record<string, Rule> = {
  'target:hooks#0': { limit: 2, window: '1s' },
  'target:hooks#1': { limit: 1, window: '1s' },
  'target:hooks#2': { limit: 1, window: '1s' },
};

describe.each(backendCases())('RateLimitManager endpoint pools on $name', (bc) => {
  afterEach(() => bc.cleanup());

  it('the primary while it has quota, then the overflow round-robin; queued batches keep their pool', async () => {
    const h = await harness(await bc.make(), { capacity: 1_000, pools, scopes });
    await h.manager.start();
    for (let i = 0; i < 6; i++) await h.manager.sendOrEnqueue([h.msg(`m${i}`, 'target:hooks')], 'critical');
    const at = (ids: string[]) =>
      h.deliveries.filter((d) => ids.includes(d.ids[0]!)).map((d) => d.context.alternative);
    // Two on the primary, then one on each overflow endpoint; m4 and m5 wait for quota.
    expect(h.sent()).toEqual(['m0', 'm1', 'm2', 'm3']);
    expect(at(['m0', 'm1', 'm2', 'm3'])).toEqual([0, 0, 1, 2]);
    expect(await h.manager.getMessageStatus('m4')).toBe('enqueued');
    await h.advance(1_100);
    expect(h.sent()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5']);
    expect(at(['m4', 'm5'])).toEqual([0, 0]);
    await h.manager.stop();
  });

  it('a retry-after answer blocks the endpoint the batch went through, not the whole pool', async () => {
    let first = true;
    const h = await harness(await bc.make(), {
      capacity: 1_000,
      pools,
      scopes,
      behave: (_ids, context) => {
        if (first && context.alternative === 0) {
          first = false;
          throw new RetryAfterError(5_000);
        }
      },
    });
    await h.manager.start();
    await h.manager.sendOrEnqueue([h.msg('a', 'target:hooks')], 'critical');
    await h.advance(10);
    // The primary answered 429 (retry in 5 s): it is blocked, so the next batch goes to an overflow endpoint.
    await h.manager.sendOrEnqueue([h.msg('b', 'target:hooks')], 'critical');
    await h.advance(10);
    expect(h.deliveries.map((d) => d.ids[0])).toEqual(['b']);
    const viaOverflow = h.deliveries[0]!.context.alternative;
    expect([1, 2]).toContain(viaOverflow);
    const stats = await h.manager.limiter.stats(['target:hooks#0', 'target:hooks#1', 'target:hooks#2']);
    expect(stats[0]!.blockedMs).toBeGreaterThan(4_900);
    expect(stats[1]!.blockedMs + stats[2]!.blockedMs).toBe(0);
    await h.advance(5_100);
    expect(h.deliveries.map((d) => [d.ids[0], d.context.alternative])).toEqual([
      ['b', viaOverflow],
      ['a', 0],
    ]);
    await h.manager.stop();
  });

  it('refuses a batch through two pools, and bad pool options', async () => {
    const h = await harness(await bc.make(), {
      capacity: 1_000,
      pools: { ...pools, 'target:other': ['target:other#0'] },
      scopes,
    });
    await expect(
      h.manager.sendOrEnqueue([h.msg('x', ['target:hooks', 'target:other'])], 'normal'),
    ).rejects.toThrow(InvalidArgumentError);
    await expect(harness(await bc.make(), { pools: { p: [] } })).rejects.toThrow(/pools\.p/);
    await expect(harness(await bc.make(), { pools: { p: ['p'] } })).rejects.toThrow(/pools\.p\[0\]/);
  });
});
