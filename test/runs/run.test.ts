import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import type { Backend } from '../../src/backends/types.js';
import type { Duration } from '../../src/core/duration.js';
import type { PlanEndpoint } from '../../src/planner/types.js';
import { MemoryRunStore, type RunDefinition, type RunHandler, Runs } from '../../src/runs/index.js';
import { drive, FakeClock, Receiver, T0 } from './helpers.js';

const endpoints: PlanEndpoint[] = [
  { name: 'a1', limit: 5, window: '10s' },
  { name: 'a2', limit: 5, window: '10s' },
];

const dir = mkdtempSync(join(tmpdir(), 'rk-runs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const backends: Array<{ name: string; make: () => Backend }> = [
  { name: 'memory', make: () => new MemoryBackend() },
  { name: 'sqlite', make: () => new SqliteBackend({ path: join(dir, `rk-${++files}.db`) }) },
];

function setup(make: () => Backend) {
  const clock = new FakeClock(T0);
  const backend = make();
  const runs = new Runs({ backend, clock });
  const receiver = new Receiver({ a1: { limit: 5, windowMs: 10_000 }, a2: { limit: 5, windowMs: 10_000 } });
  const order: string[] = [];
  const handler: RunHandler<number> = async (job, { endpoint, signal }) => {
    order.push(job.id);
    if (!receiver.call(endpoint, clock.now())) throw new Error('429 from the receiver');
    await clock.sleep(1000, signal);
  };
  return { clock, backend, runs, receiver, order, handler };
}

function jobs(prefix: string, n: number) {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, payload: i }));
}

const definition = (deadline: Duration): RunDefinition => ({
  deadline,
  maxWorkers: 10,
  types: { A: { duration: '1s', endpoints } },
  replanEvery: '2s',
});

describe.each(backends)('a run on a fake clock ($name)', ({ make }) => {
  it('finishes a feasible backlog inside the deadline, round-robin over endpoints, 0 violations', async () => {
    const { clock, runs, receiver, handler } = setup(make);
    await runs.enqueue('A', jobs('j', 30));
    const handle = await runs.start(definition('60s'), handler);
    const start = await runs.get(handle.id);
    expect(start?.plan.feasible).toBe(true);
    expect(start?.workers.A).toBeGreaterThan(0);
    const result = await drive(clock, handle);
    expect(receiver.violations).toBe(0);
    expect(result.status).toBe('finished');
    expect(result.processed.A).toEqual({ a1: 15, a2: 15 });
    expect(result.leftovers).toEqual({ A: 0 });
    expect(result.failures).toBe(0);
    expect(result.actualFinishAt).not.toBeNull();
    expect(result.actualFinishAt!).toBeLessThanOrEqual(result.deadlineAt);
    expect(result.actualFinishAt! - result.startedAt).toBeLessThanOrEqual(result.plan.finishMs + 1000);
    expect(receiver.count('a1')).toBe(15);
  });

  it('stops an infeasible backlog at the deadline with exactly the rest left over; the next run takes them first', async () => {
    const { clock, runs, receiver, order, handler } = setup(make);
    await runs.enqueue('A', jobs('j', 50));
    const first = await drive(clock, await runs.start(definition('25s'), handler));
    const done = first.processed.A!.a1! + first.processed.A!.a2!;
    // 25 s on two 5/10s endpoints: batches at 0, ~10 s and ~20 s: 30 calls, each 1 s, all starting by 24 s.
    expect(done).toBe(30);
    expect(first.plan.leftover).toBe(20);
    expect(first.leftovers).toEqual({ A: 50 - done });
    expect(first.status).toBe('finished');
    expect(new Set(order).size).toBe(done);
    expect(receiver.violations).toBe(0);
    const untouched = jobs('j', 50)
      .map((j) => j.id)
      .filter((id) => !order.includes(id));

    await runs.enqueue('A', jobs('new', 5));
    order.length = 0;
    const second = await drive(clock, await runs.start(definition('60s'), handler));
    expect(second.carriedIn).toEqual({ A: 20 });
    expect(second.plan.types.A?.jobs).toBe(25);
    expect(order.slice(0, untouched.length).sort()).toEqual([...untouched].sort());
    expect(order.slice(untouched.length).sort()).toEqual(jobs('new', 5).map((j) => j.id));
    expect(second.leftovers).toEqual({ A: 0 });
    expect(receiver.violations).toBe(0);
    expect((await runs.list()).map((r) => r.id)).toEqual([second.id, first.id]);
  });

  it('retries failures and dead-letters a job out of attempts', async () => {
    const { clock, runs, handler } = setup(make);
    await runs.enqueue('A', jobs('j', 10));
    const seen = new Map<string, number>();
    const flaky: RunHandler<number> = async (job, context) => {
      seen.set(job.id, context.attempt);
      if (job.id === 'j3' && context.attempt === 1) throw new Error('503 once');
      if (job.id === 'j7') throw new Error('always 500');
      await handler(job, context);
    };
    const result = await drive(clock, await runs.start({ ...definition('60s'), maxAttempts: 2 }, flaky));
    expect(seen.get('j3')).toBe(2);
    expect(seen.get('j7')).toBe(2);
    expect(result.failures).toBe(3);
    expect(result.deadLettered).toBe(1);
    expect(result.processed.A!.a1! + result.processed.A!.a2!).toBe(9);
    expect(result.leftovers).toEqual({ A: 0 });
  });

  it('cancel mid-run: in-flight jobs finish, the rest stay queued, nothing is lost', async () => {
    const { clock, runs, order, handler } = setup(make);
    await runs.enqueue('A', jobs('j', 40));
    const handle = await runs.start(definition('60s'), handler);
    await clock.advance(10_500); // the second batch of calls is in flight
    const inFlight = order.length;
    await handle.cancel();
    const result = await drive(clock, handle);
    expect(result.status).toBe('cancelled');
    const done = result.processed.A!.a1! + result.processed.A!.a2!;
    expect(done).toBe(inFlight);
    expect(result.leftovers).toEqual({ A: 40 - done });
    expect(await runs.backlog(['A'])).toEqual({ A: 40 - done });
  });

  it('a job still running at the deadline plus grace is aborted and returned to the backlog', async () => {
    const { clock, runs } = setup(make);
    await runs.enqueue('A', jobs('j', 3));
    const slow: RunHandler<number> = async (_job, { signal }) => {
      await clock.sleep(60_000, signal);
    };
    const result = await drive(clock, await runs.start({ ...definition('10s'), grace: '1s' }, slow));
    expect(result.processed.A).toEqual({});
    expect(result.failures).toBe(0);
    expect(result.leftovers).toEqual({ A: 3 });
    expect(result.finishedAt! - result.startedAt).toBe(11_000);
  });
});

describe('a handler that ignores its signal', () => {
  it('does not hold the run past deadline + grace: its job is returned, its late outcome refused', async () => {
    const clock = new FakeClock(T0);
    const runs = new Runs({ backend: new MemoryBackend(), clock });
    await runs.enqueue('A', jobs('j', 2));
    let finishedLate = 0;
    const deaf: RunHandler<number> = async () => {
      await clock.sleep(3_600_000); // an hour, and no signal
      finishedLate++;
    };
    const handle = await runs.start(
      {
        deadline: '10s',
        grace: '1s',
        types: { A: { duration: '1s', endpoints: [{ name: 'open', limit: 100, window: '1s' }] } },
      },
      deaf,
    );
    const result = await drive(clock, handle);
    expect(result.finishedAt! - result.startedAt).toBe(11_000);
    expect(result.processed.A).toEqual({});
    expect(result.leftovers).toEqual({ A: 2 });
    await clock.advance(3_600_000);
    expect(finishedLate).toBeGreaterThan(0);
    // The late resolution changed nothing: both jobs still wait in the backlog.
    expect(await runs.backlog(['A'])).toEqual({ A: 2 });
    expect((await runs.get(handle.id))?.processed.A).toEqual({});
  });
});

describe('a backend failing under a run', () => {
  it('marks the run failed with the cause and rejects done', async () => {
    const clock = new FakeClock(T0);
    const inner = new MemoryBackend();
    let broken = false;
    const backend: Backend = {
      kind: inner.kind,
      limits: inner.limits,
      close: () => inner.close(),
      queue<T>(name?: string) {
        const queue = inner.queue<T>(name);
        return new Proxy(queue, {
          get(target, key, receiver) {
            const value = Reflect.get(target, key, receiver);
            if (key === 'claim' && broken)
              return () => {
                throw new Error('disk I/O error');
              };
            return typeof value === 'function' ? value.bind(target) : value;
          },
        });
      },
    };
    const runs = new Runs({ backend, clock, store: new MemoryRunStore() });
    await runs.enqueue('A', jobs('j', 20));
    const handle = await runs.start(definition('60s'), async () => {
      broken = true;
      await clock.sleep(1000);
    });
    await expect(drive(clock, handle)).rejects.toThrow('disk I/O error');
    const record = await runs.get(handle.id);
    expect(record?.status).toBe('failed');
    expect(record?.error).toBe('disk I/O error');
  });
});

describe('jobs slower than configured', () => {
  it('are not started when the measured job time no longer fits before the deadline', async () => {
    const clock = new FakeClock(T0);
    const runs = new Runs({ backend: new MemoryBackend(), clock });
    await runs.enqueue('A', jobs('s', 20));
    let aborted = 0;
    // Configured 1 s, but every job takes 3 s.
    const handler: RunHandler<number> = async (_job, { signal }) => {
      try {
        await clock.sleep(3000, signal);
      } catch (error) {
        aborted++;
        throw error;
      }
    };
    const handle = await runs.start(
      {
        deadline: '10s',
        maxWorkers: 1,
        grace: '5s',
        types: { A: { duration: '1s', endpoints: [{ name: 'open', limit: 100, window: '1s' }] } },
      },
      handler,
    );
    const result = await drive(clock, handle);
    // Jobs at 0, 3 and 6 s (each measured 3 s); one at 9 s would end at 12 s: it is not started.
    expect(aborted).toBe(0);
    expect(result.processed.A).toEqual({ open: 3 });
    expect(result.actualFinishAt!).toBeLessThanOrEqual(result.deadlineAt);
    expect(result.leftovers).toEqual({ A: 17 });
  });
});

describe('a run definition that is not valid', () => {
  it("is refused with the run's own field names, before anything is defined or recorded", async () => {
    const runs = new Runs({ backend: new MemoryBackend(), clock: new FakeClock(T0) });
    const withEndpoint = (endpoint: Record<string, unknown>): RunDefinition => ({
      deadline: '1m',
      types: { A: { duration: '1s', endpoints: [endpoint as unknown as PlanEndpoint] } },
    });
    await expect(runs.create(withEndpoint({ name: 'e', limit: 'x', window: '1m' }))).rejects.toThrow(
      /^types\.A\.endpoints\[0\]\.limit: /,
    );
    await expect(
      runs.create(withEndpoint({ name: 'e', limit: 5, window: '1m', algorithm: 'foo' })),
    ).rejects.toThrow(/^types\.A\.endpoints\[0\]\.algorithm: /);
    await expect(
      runs.create({ ...withEndpoint({ name: 'e', limit: 5, window: '1m' }), grace: 'abc' as Duration }),
    ).rejects.toThrow(/^grace: /);
    expect(await runs.list()).toEqual([]);
  });
});

describe('cancelling a run whose every process was killed', () => {
  it('marks it cancelled once none has been heard from within three heartbeats', async () => {
    const clock = new FakeClock(T0);
    const store = new MemoryRunStore();
    const runs = new Runs({ backend: new MemoryBackend(), clock, store });
    await runs.enqueue('A', jobs('j', 3));
    const record = await runs.create(definition('60s'));
    // A process joined and died without leaving (SIGKILL): its count and last heartbeat stay.
    await store.update({ ...record, participants: 1, heartbeats: { dead: T0 }, version: 2 }, 1);
    clock.set(T0 + 1000);
    expect((await runs.cancel(record.id))?.status).toBe('running'); // it may still be alive
    clock.set(T0 + 60_000);
    const cancelled = await runs.cancel(record.id);
    expect(cancelled?.status).toBe('cancelled');
    expect(cancelled?.finishedAt).toBe(T0 + 60_000);
    expect(await runs.backlog(['A'])).toEqual({ A: 3 });
  });
});
