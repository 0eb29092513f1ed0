import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory/index.js';
import { FakeClock, settle } from '../../../src/core/clock.js';
import { InvalidArgumentError } from '../../../src/core/errors.js';
import { RateLimiter } from '../../../src/limiter/rate-limiter.js';
import { RateLimitManager } from '../../../src/manager/manager.js';
import { rlnEpoch } from '../../../src/profiles/rln/index.js';

const EPOCH = 60_000;
const E = 28_333_334; // an epoch index: T = E · EPOCH is a Unix time in 2023
const T = E * EPOCH;

describe('rlnEpoch', () => {
  it('numbers epochs from Unix time 0 and says when the current one ends', () => {
    const rln = rlnEpoch({ capacity: 3, epoch: '1m' });
    expect(rln.epochMs).toBe(EPOCH);
    expect(rln.epochIndex(T)).toBe(E);
    expect(rln.epochIndex(T + EPOCH - 1)).toBe(E);
    expect(rln.epochIndex(T + EPOCH)).toBe(E + 1);
    expect(rln.epochIndex(0)).toBe(0);
    expect(rln.epochStart(E)).toBe(T);
    expect(rln.epochEndsIn(T)).toBe(EPOCH);
    expect(rln.epochEndsIn(T + 15_000)).toBe(45_000);
    expect(rln.epochEndsIn(T + EPOCH - 1)).toBe(1);
  });

  it('gives a fixed-window rule and manager options', () => {
    const rln = rlnEpoch({ capacity: 3, epoch: 60_000 });
    expect(rln.rule).toEqual({ limit: 3, window: EPOCH, algorithm: 'fixed-window', name: 'rln-epoch' });
    expect(rln.manager).toEqual({ capacity: 3, duration: EPOCH, algorithm: 'fixed-window' });
  });

  it('refuses a bad capacity or epoch, naming the field', () => {
    expect(() => rlnEpoch({ capacity: 0, epoch: '1m' })).toThrow(InvalidArgumentError);
    expect(() => rlnEpoch({ capacity: 1.5, epoch: '1m' })).toThrow(/capacity/);
    expect(() => rlnEpoch({ capacity: 1, epoch: 0 })).toThrow(/epoch/);
    expect(() => rlnEpoch({ capacity: 1, epoch: '1.5ms' as never })).toThrow(/epoch/);
    expect(() => rlnEpoch({ capacity: 1, epoch: 'soon' as never })).toThrow(/epoch/);
    expect(() => rlnEpoch({ capacity: 1, epoch: '1m' }).epochIndex(Number.NaN)).toThrow(/now/);
  });

  it('a limiter with the rule admits capacity per epoch; a refusal waits exactly until the next epoch', async () => {
    const rln = rlnEpoch({ capacity: 3, epoch: '1m' });
    const clock = new FakeClock(T + 50_000); // 10 s before the epoch ends
    const limiter = new RateLimiter({ clock, backend: new MemoryBackend(), scopes: { rln: rln.rule } });
    for (let i = 0; i < 3; i++) expect((await limiter.tryAcquire({ scopes: 'rln' })).allowed).toBe(true);
    const refused = await limiter.tryAcquire({ scopes: 'rln' });
    expect(refused).toMatchObject({ allowed: false, blockedBy: { scope: 'rln', rule: 'rln-epoch' } });
    expect(refused.retryAfterMs).toBe(rln.epochEndsIn(clock.now()));
    expect(refused.retryAfterMs).toBe(10_000);
    await clock.advance(10_000);
    expect(rln.epochIndex(clock.now())).toBe(E + 1);
    for (let i = 0; i < 3; i++) expect((await limiter.tryAcquire({ scopes: 'rln' })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ scopes: 'rln' })).allowed).toBe(false);
  });

  it('a RateLimitManager on the epoch sends capacity per epoch and the rest when the next begins', async () => {
    const rln = rlnEpoch({ capacity: 10, epoch: '1m' });
    const clock = new FakeClock(T + 30_000);
    const sent: Array<{ id: string; epoch: number }> = [];
    const manager = new RateLimitManager<string>({
      ...rln.manager,
      sleep: '1s',
      clock,
      backend: new MemoryBackend(),
      sender: async (batch) => {
        for (const m of batch) sent.push({ id: m.id, epoch: rln.epochIndex(clock.now()) });
      },
    });
    await manager.start();
    const statuses: string[] = [];
    for (let i = 0; i < 12; i++)
      statuses.push(await manager.sendOrEnqueue([{ id: `m${i}`, payload: 'x' }], 'critical'));
    expect(statuses.filter((s) => s === 'passed-to-sender')).toHaveLength(10);
    expect(statuses.slice(10)).toEqual(['enqueued', 'enqueued']);
    expect(await manager.getQuota()).toEqual({ remaining: 0, total: 10 });
    await clock.advance(29_000);
    await settle();
    expect(sent).toHaveLength(10);
    await clock.advance(2_000); // the epoch E + 1 begins at T + 60 s
    await settle();
    expect(sent.map((s) => s.epoch)).toEqual([...Array(10).fill(E), E + 1, E + 1]);
    expect(await manager.getQuota()).toEqual({ remaining: 8, total: 10 });
    await manager.stop();
  });
});
