import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import {
  chooseEndpoint,
  decideWorkers,
  endpointRequest,
  type RunHandler,
  Runs,
  runSettings,
} from '../../src/runs/index.js';
import { drive, FakeClock, Receiver, T0 } from './helpers.js';

const settings = runSettings({
  deadline: '3m',
  maxWorkers: 20,
  types: {
    REBALANCE_NEEDED: {
      duration: '2s',
      endpoints: [
        { name: 'rebalance', limit: 30, window: '1m' },
        { name: 'rebalance-overflow-1', limit: 30, window: '1m' },
      ],
    },
  },
});

describe('decideWorkers', () => {
  it('follows the plan for what is left in the time left', () => {
    const d = decideWorkers({
      settings,
      remaining: { REBALANCE_NEEDED: 180 },
      timeLeftMs: 180_000,
      start: T0,
    });
    expect(d.plan?.feasible).toBe(true);
    expect(d.workers.REBALANCE_NEEDED).toBe(d.plan?.types.REBALANCE_NEEDED?.workers);
    expect(d.workers.REBALANCE_NEEDED).toBeGreaterThan(0);
  });

  it('a slow endpoint (measured job time above the configured one) gets more workers', () => {
    const base = decideWorkers({
      settings,
      remaining: { REBALANCE_NEEDED: 120 },
      timeLeftMs: 120_000,
      start: T0,
    });
    const slow = decideWorkers({
      settings,
      remaining: { REBALANCE_NEEDED: 120 },
      timeLeftMs: 120_000,
      observedMs: { REBALANCE_NEEDED: 20_000 },
      start: T0,
    });
    expect(slow.workers.REBALANCE_NEEDED!).toBeGreaterThan(base.workers.REBALANCE_NEEDED!);
  });

  it('a faster measured time never lowers the job time below the configured one', () => {
    const base = decideWorkers({
      settings,
      remaining: { REBALANCE_NEEDED: 120 },
      timeLeftMs: 120_000,
      start: T0,
    });
    const fast = decideWorkers({
      settings,
      remaining: { REBALANCE_NEEDED: 120 },
      timeLeftMs: 120_000,
      observedMs: { REBALANCE_NEEDED: 10 },
      start: T0,
    });
    expect(fast.workers).toEqual(base.workers);
  });

  it('failed attempts come back as remaining work and raise the workers; nothing left or no time: none', () => {
    const few = decideWorkers({
      settings,
      remaining: { REBALANCE_NEEDED: 10 },
      timeLeftMs: 60_000,
      start: T0,
    });
    const more = decideWorkers({
      settings,
      remaining: { REBALANCE_NEEDED: 60 },
      timeLeftMs: 60_000,
      start: T0,
    });
    expect(more.workers.REBALANCE_NEEDED!).toBeGreaterThan(few.workers.REBALANCE_NEEDED!);
    expect(
      decideWorkers({ settings, remaining: { REBALANCE_NEEDED: 0 }, timeLeftMs: 60_000 }).workers,
    ).toEqual({
      REBALANCE_NEEDED: 0,
    });
    expect(decideWorkers({ settings, remaining: { REBALANCE_NEEDED: 50 }, timeLeftMs: 0 })).toEqual({
      workers: { REBALANCE_NEEDED: 0 },
      plan: null,
    });
  });

  it('never exceeds maxWorkers', () => {
    const capped = runSettings({
      ...settings,
      deadline: '3m',
      maxWorkers: 3,
      types: { A: { duration: '30s', endpoints: [{ name: 'a', limit: 1000, window: '1s' }] } },
    });
    const d = decideWorkers({ settings: capped, remaining: { A: 100 }, timeLeftMs: 180_000 });
    expect(d.workers.A).toBe(3);
    expect(d.plan?.bottleneck.kind).toBe('workers');
  });
});

describe('re-planning during a run', () => {
  it('raises concurrency when jobs take longer than configured', async () => {
    const clock = new FakeClock(T0);
    const runs = new Runs({ backend: new MemoryBackend(), clock });
    const receiver = new Receiver({ fast: { limit: 100, windowMs: 1000 } });
    await runs.enqueue(
      'A',
      Array.from({ length: 60 }, (_, i) => ({ id: `j${i}`, payload: i })),
    );
    let running = 0;
    let peak = 0;
    const slow: RunHandler<number> = async (_job, { endpoint, signal }) => {
      receiver.call(endpoint, clock.now());
      peak = Math.max(peak, ++running);
      try {
        await clock.sleep(4000, signal); // configured: 1 s
      } finally {
        running--;
      }
    };
    const handle = await runs.start(
      {
        deadline: '60s',
        maxWorkers: 20,
        replanEvery: '5s',
        types: { A: { duration: '1s', endpoints: [{ name: 'fast', limit: 100, window: '1s' }] } },
      },
      slow,
    );
    const initial = (await runs.get(handle.id))!.workers.A!;
    const result = await drive(clock, handle);
    expect(result.replans).toBeGreaterThan(0);
    expect(receiver.violations).toBe(0);
    expect(result.processed.A).toEqual({ fast: 60 });
    expect(result.actualFinishAt!).toBeLessThanOrEqual(result.deadlineAt);
    // At the configured 1 s the plan starts `initial` workers; once 4 s jobs are measured it starts more.
    expect(peak).toBeGreaterThan(initial);
    expect(result.actualFinishAt! - result.startedAt).toBeLessThan(60_000);
  });
});

describe('chooseEndpoint', () => {
  it('one limiter decision per job: the primary first, then the overflow endpoints round-robin, the exact wait', async () => {
    const clock = new FakeClock(T0);
    const backend = new MemoryBackend();
    let decisions = 0;
    const decide = backend.limits.decide.bind(backend.limits);
    backend.limits.decide = (plan, now) => {
      decisions++;
      return decide(plan, now);
    };
    const limiter = new RateLimiter({
      clock,
      backend,
      scopes: {
        p: { limit: 1, window: '10s' },
        o1: { limit: 2, window: '10s' },
        o2: { limit: 2, window: '20s' },
      },
    });
    const request = endpointRequest('pool', ['p', 'o1', 'o2']);
    const picks: number[] = [];
    for (let i = 0; i < 5; i++) picks.push((await chooseEndpoint(limiter, request)).index);
    // The engine's pool: the primary while it admits; then each request starts one overflow further on.
    expect(picks).toEqual([0, 2, 1, 2, 1]);
    expect(decisions).toBe(5);
    const none = await chooseEndpoint(limiter, request);
    expect(none.index).toBe(-1);
    expect(decisions).toBe(6);
    const primaryWait = (await limiter.peek({ scopes: 'p' })).retryAfterMs;
    expect(none.retryAfterMs).toBe(primaryWait);
    await clock.advance(none.retryAfterMs);
    expect((await chooseEndpoint(limiter, request)).index).toBe(0);
  });
});

describe('several processes serving one run', () => {
  it('share the planned workers instead of each starting all of them', async () => {
    const clock = new FakeClock(T0);
    const backend = new MemoryBackend();
    const a = new Runs({ backend, clock });
    const b = new Runs({ backend, clock });
    await a.enqueue(
      'A',
      Array.from({ length: 120 }, (_, i) => ({ id: `j${i}`, payload: i })),
    );
    let running = 0;
    const samples: Array<{ at: number; running: number }> = [];
    const handler: RunHandler<number> = async (_job, { signal }) => {
      samples.push({ at: clock.now(), running: ++running });
      try {
        await clock.sleep(1000, signal);
      } finally {
        running--;
      }
    };
    const record = await a.create({
      deadline: '30s',
      maxWorkers: 20,
      replanEvery: '2s',
      types: { A: { duration: '1s', endpoints: [{ name: 'open', limit: 1000, window: '1s' }] } },
    });
    const planned = record.workers.A!;
    expect(planned).toBeGreaterThanOrEqual(4);
    const one = await a.join(record.id, handler);
    const two = await b.join(record.id, handler);
    const [first] = await Promise.all([drive(clock, one), drive(clock, two)]);
    expect(first.processed.A).toEqual({ open: 120 });
    // Once both have re-planned and the slots above their share finished their job, both together stay at
    // the plan (each alone would start all of it: 2 × planned).
    const settled = samples.filter((s) => s.at >= T0 + 5000);
    expect(settled.length).toBeGreaterThan(0);
    expect(Math.max(...settled.map((s) => s.running))).toBeLessThanOrEqual(2 * Math.ceil(planned / 2));
  });
});
