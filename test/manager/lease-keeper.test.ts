/**
 * The lease keeper tells which lease was lost: a job this process lost and then claimed again under a
 * new token is lost under the old lease only, and stays kept (and renewed) under the new one. Real
 * stores: memory, SQLite and Redis.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Backend, LeaseRef } from '../../src/backends/types.js';
import { FakeClock } from '../../src/core/clock.js';
import { LeaseKeeper } from '../../src/manager/lease-keeper.js';
import { backendCasesWithRedis, T0 } from './harness.js';

const cases = await backendCasesWithRedis('the lease keeper on Redis', 'keeper');

describe.each(cases)('LeaseKeeper on $name', (bc) => {
  let backend: Backend | undefined;
  afterEach(async () => {
    await backend?.close();
    bc.cleanup();
  });

  it('a job re-leased to us under a new token is lost under the old lease only', async () => {
    backend = await bc.make();
    const queue = backend.queue<string>('keeper');
    const clock = new FakeClock(T0);
    await queue.add(
      [{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'k1', payload: 'x' }] }],
      T0,
    );
    const claim = (owner: string, now: number) =>
      queue.claim({ now, owner, leaseUntil: now + 100, maxJobs: 1, remaining: 10, reserve: 0 });
    const [first] = await claim('me.1', T0);
    expect(await queue.recover(T0 + 100)).toBe(1);
    const [again] = await claim('me.2', T0 + 100);
    expect(again!.id).toBe(first!.id);
    const lost: LeaseRef[][] = [];
    const keeper = new LeaseKeeper({
      queue: queue as never,
      clock,
      leaseMs: 5_000,
      onLost: (leases) => lost.push(leases),
      onFault: (error) => {
        throw error;
      },
    });
    const old = { jobId: first!.id, owner: 'me.1' };
    const current = { jobId: again!.id, owner: 'me.2' };
    keeper.keep(old);
    keeper.keep(current);
    await clock.advance(150);
    await keeper.renew();
    expect(lost).toEqual([[old]]);
    expect(lost[0]![0]).toBe(old);
    expect(keeper.size).toBe(1);
    // The current lease was renewed: it has not expired at its first end.
    expect(await queue.recover(T0 + 300)).toBe(0);
    expect(await queue.complete([current], T0 + 300)).toBe(1);
  });
});
