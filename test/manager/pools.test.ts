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

  it('a retry-after answer blocks the endpoint the batch went through, not the whole pool; another endpoint takes the batch at once', async () => {
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
    // The primary answered 429 (retry in 5 s): it is blocked, and `a` goes again at once through an
    // overflow endpoint, charged there; the next batch takes the other overflow endpoint.
    await h.manager.sendOrEnqueue([h.msg('b', 'target:hooks')], 'critical');
    await h.advance(200); // the loop's next pass
    // (The harness records the batches the sender took without throwing.)
    const via = h.deliveries.map((d) => [d.ids[0], d.context.alternative]);
    expect(via.map(([id]) => id)).toEqual(['a', 'b']);
    expect([1, 2]).toContain(via[0]![1]);
    expect([1, 2]).toContain(via[1]![1]);
    expect(via[0]![1]).not.toBe(via[1]![1]);
    const stats = await h.manager.limiter.stats(['target:hooks#0', 'target:hooks#1', 'target:hooks#2']);
    expect(stats[0]!.blockedMs).toBeGreaterThan(4_700);
    expect(stats[1]!.blockedMs + stats[2]!.blockedMs).toBe(0);
    await h.manager.stop();
  });

  it('a retry-after answer on a pool with no other endpoint free holds the lane: later batches keep their order', async () => {
    let first = true;
    const h = await harness(await bc.make(), {
      capacity: 1_000,
      pools: { 'target:one': ['target:one#0'] },
      scopes: { 'target:one#0': { limit: 100, window: '1s' } },
      behave: (ids) => {
        if (first && ids[0] === 'a') {
          first = false;
          throw new RetryAfterError(2_000);
        }
      },
    });
    await h.manager.start();
    await h.manager.sendOrEnqueue([h.msg('a', 'target:one')], 'critical');
    await h.advance(10);
    await h.manager.sendOrEnqueue([h.msg('b', 'target:one')], 'critical');
    await h.advance(500);
    expect(h.deliveries.map((d) => d.ids[0])).toEqual([]);
    await h.advance(1_600);
    expect(h.deliveries.map((d) => d.ids[0])).toEqual(['a', 'b']);
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
