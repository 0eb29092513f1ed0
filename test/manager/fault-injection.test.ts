/**
 * Fault injection: a store that throws on its k-th call, for every k over a whole run (limit store and
 * queue store calls counted together). Whatever call fails, no message is lost (each is delivered, or
 * its offer was answered with a drop status or rejected), none is delivered twice, and the quota charged
 * equals what really reached the sender.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import type { Backend, MessageStatus, Priority, QueueStore } from '../../src/backends/types.js';
import { FakeClock, settle } from '../../src/core/clock.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { T0 } from './harness.js';

/** Wraps every method of an object: `onCall()` runs before each (and may throw). */
function counted<O extends object>(target: O, onCall: (name: string) => void): O {
  return new Proxy(target, {
    get(t, prop, receiver) {
      const value = Reflect.get(t, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        onCall(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(t, args);
      };
    },
  });
}

/** A memory backend whose k-th store call (limits or queue) throws; k = 0 never throws. */
function faultyBackend(k: number): { backend: Backend; calls: () => number } {
  const inner = new MemoryBackend();
  let calls = 0;
  const onCall = (name: string) => {
    calls++;
    if (calls === k) throw new Error(`injected fault on call ${k} (${name})`);
  };
  const limits = counted(inner.limits, onCall);
  const queues = new Map<string, unknown>();
  const backend: Backend = {
    kind: 'memory',
    limits,
    queue<T>(name = 'default'): QueueStore<T> {
      if (!queues.has(name)) queues.set(name, counted(inner.queue<T>(name), onCall));
      return queues.get(name) as QueueStore<T>;
    },
    close: () => inner.close(),
  };
  return { backend, calls: () => calls };
}

interface Run {
  calls: number;
  sent: Map<string, number>;
  attempts: number;
  offers: Map<string, MessageStatus | 'rejected'>;
  /** Quota charged at the end (nothing expired: the window is an hour). */
  used: number;
  left: number;
}

async function run(k: number): Promise<Run> {
  const { backend, calls } = faultyBackend(k);
  const clock = new FakeClock(T0);
  const sent = new Map<string, number>();
  let attempts = 0;
  const manager = new RateLimitManager<number>({
    backend,
    clock,
    // An hour's quota that the run never exhausts: every charge is still visible at the end.
    capacity: 60,
    duration: '1h',
    lowQuotaThreshold: 0.1,
    sleep: '100ms',
    random: () => 0.5,
    retry: { maxAttempts: 10, baseDelay: '1s', maxDelay: '2s' },
    logger: { warn: () => {} },
    sender: async (batch, context) => {
      attempts += batch.length;
      // Every 4th batch fails on its first attempt.
      if (context.attempt === 1 && Number(batch[0]!.id.slice(1)) % 4 === 0) throw new Error('HTTP 503');
      for (const m of batch) sent.set(m.id, (sent.get(m.id) ?? 0) + 1);
    },
  });
  await manager.start();
  const offers = new Map<string, MessageStatus | 'rejected'>();
  const priorities: Priority[] = ['critical', 'normal', 'normal'];
  for (let i = 0; i < 24; i++) {
    const ids = i % 5 === 0 ? [`m${i}`, `m${i}x`] : [`m${i}`];
    let status: MessageStatus | 'rejected';
    try {
      status = await manager.sendOrEnqueue(
        ids.map((id) => ({ id, payload: i })),
        priorities[i % 3]!,
      );
    } catch {
      status = 'rejected';
    }
    for (const id of ids) offers.set(id, status);
    await clock.advance(50);
    await settle(3);
  }
  // Long enough for every retry, every lease to expire and be recovered, and the quota to serve it all.
  for (let t = 0; t < 40; t++) {
    await clock.advance(1_000);
    await settle(3);
  }
  await manager.stop({ timeout: '10s' });
  const stats = await manager.stats();
  return {
    calls: calls(),
    sent,
    attempts,
    offers,
    used: stats.quota.total - stats.quota.remaining,
    left: stats.queued.critical + stats.queued.normal + stats.retrying + stats.inFlight,
  };
}

describe('fault injection: the k-th store call throws', () => {
  it('for every k over the run: nothing lost, nothing delivered twice, no charge without a send', async () => {
    const clean = await run(0);
    expect(clean.left).toBe(0);
    expect([...clean.sent.values()].every((n) => n === 1)).toBe(true);
    expect(clean.used).toBe(clean.attempts);
    expect(clean.attempts).toBeGreaterThan(clean.sent.size); // some batches were retried
    const total = Math.min(clean.calls, 200);
    expect(total).toBeGreaterThan(100);
    for (let k = 1; k <= total; k++) {
      const r = await run(k);
      const what = `fault on call ${k}`;
      expect(r.left, what).toBe(0);
      expect(r.used, `${what}: charged ${r.used} for ${r.attempts} messages sent`).toBe(r.attempts);
      for (const [id, status] of r.offers) {
        const n = r.sent.get(id) ?? 0;
        expect(n, `${what}: ${id} delivered ${n} times`).toBeLessThanOrEqual(1);
        if (status === 'passed-to-sender' || status === 'enqueued') expect(n, `${what}: ${id} lost`).toBe(1);
        else expect(n, `${what}: ${id} answered ${status} but delivered`).toBe(0);
      }
    }
  }, 600_000);
});
