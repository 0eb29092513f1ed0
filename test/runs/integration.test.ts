import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import type { Duration } from '../../src/core/duration.js';
import { type RunDefinition, Runs } from '../../src/runs/index.js';
import { HttpReceiver, httpHandler } from './http-receiver.js';

/**
 * Real time, real HTTP: endpoints that allow 10 calls per 5 s (the seed's 30/min with a shorter window)
 * and fail 5 % of calls. One 30 s run with more work than the endpoints admit, then a 15 s run.
 */
const receiver = new HttpReceiver({
  a1: { limit: 10, windowMs: 5000, delayMs: 200 },
  a2: { limit: 10, windowMs: 5000, delayMs: 200 },
  b1: { limit: 10, windowMs: 5000, delayMs: 100 },
});
afterAll(() => receiver.stop());

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('a real-time run against local HTTP endpoints', () => {
  it('0 violations, feasible work inside the deadline, exact leftovers, the next run takes them', async () => {
    const base = await receiver.start();
    const runs = new Runs({ backend: new MemoryBackend() });
    const http = httpHandler(base);
    const started: string[] = [];
    const handler = (job: { id: string }, context: { endpoint: string; signal: AbortSignal }) => {
      started.push(job.id);
      return http(job, context);
    };
    const definition = (deadline: Duration): RunDefinition => ({
      deadline,
      maxWorkers: 10,
      replanEvery: '2s',
      maxAttempts: 5,
      // Twice the default (250 ms): here the receiver shares one event loop with the workers, on a 2-core
      // box shared by several test runs; at the default, 2 of 5 runs saw one call arrive > 275 ms later
      // than its quota relative to the call a window before (src/runs/README.md, "margin").
      margin: '500ms',
      types: {
        A: {
          duration: '300ms',
          endpoints: [
            { name: 'a1', limit: 10, window: '5s' },
            { name: 'a2', limit: 10, window: '5s' },
          ],
        },
        B: { duration: '200ms', endpoints: [{ name: 'b1', limit: 10, window: '5s' }] },
      },
    });
    await runs.enqueue(
      'A',
      ids('a', 150).map((id) => ({ id, payload: null })),
    );
    await runs.enqueue(
      'B',
      ids('b', 40).map((id) => ({ id, payload: null })),
    );

    const first = await (await runs.start(definition('30s'), handler)).done;
    const firstEnd = Date.now();
    const doneA = new Set(receiver.succeeded((c) => c.endpoint !== 'b1'));
    const doneB = new Set(receiver.succeeded((c) => c.endpoint === 'b1'));
    expect(receiver.violations).toBe(0);
    expect(first.status).toBe('finished');
    expect(first.plan.feasible).toBe(false);
    expect(first.finishedAt! - first.startedAt).toBeGreaterThanOrEqual(29_000);
    // B was feasible: all of it, inside the deadline.
    expect(doneB.size).toBe(40);
    expect(first.processed.B?.b1).toBe(40);
    expect(first.actualFinishAt!).toBeLessThanOrEqual(first.deadlineAt);
    // A: what the endpoints admitted, and exactly the rest left over.
    expect(doneA.size).toBe((first.processed.A?.a1 ?? 0) + (first.processed.A?.a2 ?? 0));
    expect(doneA.size).toBeGreaterThan(90);
    expect(first.leftovers).toEqual({ A: 150 - doneA.size, B: 0 });
    expect(first.failures).toBe(receiver.calls.filter((c) => c.status === 500).length);
    expect(first.failures).toBeGreaterThan(0);
    const leftover = ids('a', 150).filter((id) => !doneA.has(id));

    await runs.enqueue(
      'A',
      ids('n', 5).map((id) => ({ id, payload: null })),
    );
    const callsBefore = receiver.calls.length;
    started.length = 0;
    const second = await (await runs.start(definition('15s'), handler)).done;
    const secondA = receiver.calls
      .slice(callsBefore)
      .filter((c) => c.status === 200)
      .map((c) => c.id);
    expect(receiver.violations).toBe(0);
    expect(second.carriedIn).toEqual({ A: leftover.length, B: 0 });
    expect(second.plan.feasible).toBe(true);
    expect(second.status).toBe('finished');
    expect(new Set(secondA)).toEqual(new Set([...leftover, ...ids('n', 5)]));
    // Jobs start in queue order: every leftover started before any new job.
    const firstStarts = [...new Set(started)];
    expect(firstStarts.slice(0, leftover.length).sort()).toEqual([...leftover].sort());
    expect(second.leftovers).toEqual({ A: 0, B: 0 });
    expect(second.actualFinishAt!).toBeLessThanOrEqual(second.deadlineAt);
    expect(second.startedAt).toBeGreaterThanOrEqual(firstEnd - 1);
  }, 120_000);
});
