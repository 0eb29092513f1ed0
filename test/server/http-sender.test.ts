import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import type { QueuedMessage } from '../../src/backends/types.js';
import { FakeClock } from '../../src/core/clock.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { RetryAfterError } from '../../src/manager/sender-errors.js';
import { createHttpSender, type Envelope } from '../../src/server/http-sender.js';
import { compileTargets } from '../../src/server/targets.js';
import { T0 } from './helpers.js';
import { startUpstream, type Upstream } from './upstream.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const message = (id: string): QueuedMessage<Envelope> => ({ id, payload: { target: 'hooks', body: { id } } });
const context = { jobId: 'j1', priority: 'normal' as const, attempt: 1, scopes: [], alternative: 0 };

async function setup(behave: Parameters<typeof startUpstream>[0]['behave']) {
  const clock = new FakeClock(T0);
  const upstream: Upstream = await startUpstream({ clock, behave });
  cleanups.push(() => upstream.close());
  const backend = new MemoryBackend();
  const limiter = new RateLimiter({ backend, clock });
  const targets = compileTargets({
    hooks: { url: upstream.url, method: 'POST', timeout: '5s', headers: {}, limits: [], overflow: [] },
  } as never);
  return { clock, upstream, backend, limiter, targets };
}

describe('the HTTP sender', () => {
  it('after a 429 the rest of the batch is not sent and comes back with the same retry-after', async () => {
    const { upstream, limiter, targets, clock } = await setup((id) =>
      id === 'b' ? { status: 429, headers: { 'retry-after': '3' } } : undefined,
    );
    const send = createHttpSender({ targets, limiter: () => limiter, clock });
    const outcome = await send([message('a'), message('b'), message('c')], context);
    expect(upstream.received.map((r) => r.id)).toEqual(['a', 'b']);
    expect(outcome.failed?.map((f) => f.id)).toEqual(['b', 'c']);
    for (const f of outcome.failed ?? []) {
      expect(f.error).toBeInstanceOf(RetryAfterError);
      expect((f.error as RetryAfterError).retryAfterMs).toBe(3000);
    }
  });

  it('a 429 whose block cannot be written still resolves: the delivered sibling is not reported failed (it would go twice)', async () => {
    const { upstream, limiter, targets, clock } = await setup((id) =>
      id === 'b' ? { status: 429, headers: { 'retry-after': '1' } } : undefined,
    );
    // The store refuses the block (a busy SQLite file, Redis down with fallback off).
    limiter.block = async () => {
      throw new Error('SQLITE_BUSY: database is locked');
    };
    const send = createHttpSender({ targets, limiter: () => limiter, clock });
    const outcome = await send([message('a'), message('b')], context);
    expect(upstream.received.map((r) => r.id)).toEqual(['a', 'b']);
    expect(outcome.failed?.map((f) => f.id)).toEqual(['b']);
    expect(outcome.failed?.[0]?.error).toBeInstanceOf(RetryAfterError);
  });
});
