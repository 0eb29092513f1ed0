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
import { beat } from '../../src/runs/shares.js';
import type { RunRecord } from '../../src/runs/types.js';
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
    let id = '';
    const samples: Array<{ at: number; running: number; planned: number }> = [];
    const handler: RunHandler<number> = async (_job, { signal }) => {
      // The memory run store answers synchronously: the plan of this very moment.
      const now = (a.store.get(id) as RunRecord).workers.A!;
      samples.push({ at: clock.now(), running: ++running, planned: now });
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
    id = record.id;
    expect(record.workers.A!).toBeGreaterThanOrEqual(4);
    const one = await a.join(record.id, handler);
    const two = await b.join(record.id, handler);
    await Promise.all([drive(clock, one), drive(clock, two)]);
    // The record once both left (each `done` is the record as that process left it).
    expect((await a.get(id))?.processed.A).toEqual({ open: 120 });
    // Both together run at most the plan of the moment (each alone would start all of it), from the start
    // on: a process takes its share only out of what the other does not hold.
    expect(samples.length).toBe(120);
    for (const s of samples) expect(s.running).toBeLessThanOrEqual(s.planned);
    expect(new Set(samples.map((s) => s.planned)).size).toBeGreaterThan(1); // it did re-plan
  });
});

describe('a process joining a run mid-way', () => {
  it('takes its share out of what the others give back: together never more in flight than planned', async () => {
    const clock = new FakeClock(T0);
    const backend = new MemoryBackend();
    const a = new Runs({ backend, clock });
    const b = new Runs({ backend, clock });
    await a.enqueue(
      'A',
      Array.from({ length: 400 }, (_, i) => ({ id: `j${i}`, payload: i })),
    );
    const running = { a: 0, b: 0 };
    const done = { a: 0, b: 0 };
    let peak = 0;
    const handler =
      (who: 'a' | 'b'): RunHandler<number> =>
      async (_job, { signal }) => {
        running[who]++;
        peak = Math.max(peak, running.a + running.b);
        try {
          await clock.sleep(1000, signal);
          done[who]++;
        } finally {
          running[who]--;
        }
      };
    // More work than 5 workers can do in 30 s: the plan stays at the cap (5) for the whole run.
    const record = await a.create({
      deadline: '30s',
      maxWorkers: 5,
      types: { A: { duration: '1s', endpoints: [{ name: 'open', limit: 1000, window: '1s' }] } },
    });
    expect(record.workers.A).toBe(5);
    const one = await a.join(record.id, handler('a'));
    for (let i = 0; i < 30; i++) await clock.advance(100);
    expect(running.a).toBe(5);
    const two = await b.join(record.id, handler('b'));
    await Promise.all([drive(clock, one), drive(clock, two)]);
    const final = await a.get(record.id);
    expect(peak).toBeLessThanOrEqual(5);
    // The joiner did take a share (about half of what was left).
    expect(done.b).toBeGreaterThan(20);
    expect(done.a + done.b).toBe(final?.processed.A?.open);
    expect(final?.shares).toEqual({});
    expect(final?.heartbeats).toEqual({});
  });
});

describe('beat (the division of the plan among live processes)', () => {
  const input = runSettings({
    deadline: '1m',
    lease: '3s', // heartbeat every 1 s, a process silent for 3 s is dropped
    types: { A: { duration: '1s', endpoints: [{ name: 'e', limit: 10, window: '1s' }] } },
  });
  const recordOf = (workers: number): RunRecord =>
    ({ input, workers: { A: workers }, heartbeats: {}, shares: {} }) as unknown as RunRecord;

  it('divides exactly (never more in total than planned) and frees the share of a silent process', () => {
    const r = recordOf(5);
    expect(beat(r, 'p1', T0, {})).toEqual({ A: 5 });
    // p2 joins while p1 holds all 5: it gets nothing until p1 gives some back.
    expect(beat(r, 'p2', T0 + 100, {})).toEqual({ A: 0 });
    // p1's fair share is 3 (first in order); it still runs 5 slots, so it keeps holding 5.
    expect(beat(r, 'p1', T0 + 1000, { A: 5 })).toEqual({ A: 3 });
    expect(beat(r, 'p2', T0 + 1100, {})).toEqual({ A: 0 });
    // Its slots above 3 finished their job: p1 holds 3, p2 may take 2.
    expect(beat(r, 'p1', T0 + 2000, { A: 3 })).toEqual({ A: 3 });
    expect(beat(r, 'p2', T0 + 2100, {})).toEqual({ A: 2 });
    const held = Object.values(r.shares).reduce((sum, s) => sum + (s.A ?? 0), 0);
    expect(held).toBe(5);
    // p2 dies (no heartbeat for 3 s): p1 is alone again and takes the whole plan.
    expect(beat(r, 'p1', T0 + 5200, { A: 3 })).toEqual({ A: 5 });
    expect(Object.keys(r.heartbeats)).toEqual(['p1']);
    expect(Object.keys(r.shares)).toEqual(['p1']);
  });
});
