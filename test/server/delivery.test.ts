import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import { startService, T0 } from './helpers.js';
import { startUpstream, type Upstream, waitFor } from './upstream.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function upstreams(clock: FakeClock, n: number, options: Parameters<typeof startUpstream>[0]) {
  const list: Upstream[] = [];
  for (let i = 0; i < n; i++) {
    const u = await startUpstream({ ...options, clock });
    cleanups.push(() => u.close());
    list.push(u);
  }
  return list;
}

async function service(config: Parameters<typeof startService>[0], clock: FakeClock) {
  const s = await startService({ manager: { capacity: 1000, duration: '1m' }, ...config }, { clock });
  cleanups.push(() => s.close());
  return s;
}

const post = (s: Awaited<ReturnType<typeof service>>, ids: string[], priority = 'normal') =>
  s.call('POST', '/v1/messages', {
    target: 'hooks',
    priority,
    messages: ids.map((id) => ({ id, payload: { id } })),
  });

const status = async (s: Awaited<ReturnType<typeof service>>, id: string) =>
  (await s.call('GET', `/v1/messages/${id}`)).body;

describe('HTTP delivery', () => {
  it('each message is its own request; overflow endpoints take over round-robin when the primary has no quota', async () => {
    const clock = new FakeClock(T0);
    const [primary, o1, o2] = await upstreams(clock, 3, { clock, limit: 2, windowMs: 1000 });
    const limits = [{ limit: 2, window: '1s' }];
    const s = await service(
      {
        targets: {
          hooks: {
            url: primary!.url,
            headers: { 'x-api-key': 'k1' },
            limits,
            overflow: [
              { url: o1!.url, limits },
              { url: o2!.url, limits, headers: { 'x-api-key': 'k2' } },
            ],
          },
        },
      },
      clock,
    );
    for (let i = 1; i <= 6; i++) expect((await post(s, [`m${i}`])).body.status).toBe('passed-to-sender');
    // No endpoint has quota left: the seventh is queued (its pool kept), not held in the sender.
    expect((await post(s, ['m7'])).body.status).toBe('enqueued');
    const total = () => primary!.received.length + o1!.received.length + o2!.received.length;
    await waitFor(() => total() === 6, 'six deliveries');
    expect(primary!.received.map((r) => r.id)).toEqual(['m1', 'm2']);
    expect(o1!.received).toHaveLength(2);
    expect(o2!.received).toHaveLength(2);
    // Round-robin: the overflow endpoints alternate.
    const overflowOrder = [...o1!.received, ...o2!.received].sort((a, b) => a.id.localeCompare(b.id));
    expect(overflowOrder.map((r) => r.id)).toEqual(['m3', 'm4', 'm5', 'm6']);
    const o1Ids = o1!.received.map((r) => r.id).sort();
    expect([
      ['m3', 'm5'],
      ['m4', 'm6'],
    ]).toContainEqual(o1Ids);
    // Headers: the target's, then the endpoint's own; the body is the payload; the id is the idempotency key.
    expect(primary!.received[0]!.headers['x-api-key']).toBe('k1');
    expect(o2!.received[0]!.headers['x-api-key']).toBe('k2');
    expect(primary!.received[0]!.body).toEqual({ id: 'm1' });
    // The seventh waits in the queue: nothing more until a window passes.
    await new Promise((r) => setTimeout(r, 50));
    expect(total()).toBe(6);
    // The loop looks again on its next pass (every 100 ms) once the window has passed.
    await clock.advance(1110);
    await waitFor(() => total() === 7, 'the seventh after a second');
    expect(primary!.received.map((r) => r.id)).toEqual(['m1', 'm2', 'm7']);
    for (const u of [primary!, o1!, o2!]) expect(u.violations).toBe(0);
  });

  it('a 429 with Retry-After blocks that endpoint for every process sharing the backend', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rk-429-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'rk.db');
    const clock = new FakeClock(T0);
    const [u] = await upstreams(clock, 1, {
      clock,
      behave: (id, nth) =>
        id === 'a' && nth === 1 ? { status: 429, headers: { 'retry-after': '5' } } : undefined,
    });
    const s = await service(
      {
        backend: `sqlite:${db}`,
        targets: { hooks: { url: u!.url, limits: [{ limit: 100, window: '1s' }] } },
      },
      clock,
    );
    await post(s, ['a']);
    await waitFor(() => u!.received.length === 1, 'the first try');
    // Another process on the same file sees the block.
    const other = new SqliteBackend({ path: db });
    cleanups.push(() => other.close());
    const limiter = new RateLimiter({
      backend: other,
      clock,
      scopes: { 'target:hooks#0': { limit: 100, window: '1s' } },
    });
    await waitFor(async () => !(await limiter.peek({ scopes: 'target:hooks#0' })).allowed, 'the block');
    const seen = await limiter.peek({ scopes: 'target:hooks#0' });
    expect(seen.blockedBy).toMatchObject({ scope: 'target:hooks#0', rule: 'block' });
    expect(seen.retryAfterMs).toBe(5000);
    await clock.advance(4999);
    await new Promise((r) => setTimeout(r, 30));
    expect(u!.received).toHaveLength(1);
    await clock.advance(1);
    await waitFor(() => u!.received.length === 2, 'the retry after 5 s');
    expect(u!.received[1]!.at).toBe(T0 + 5000);
    await waitFor(async () => (await status(s, 'a')).deliveredAt !== null, 'recorded as delivered');
    const metrics = (await s.call('GET', '/metrics')).body as string;
    expect(metrics).toContain('ratekeeper_upstream_429_total{target="hooks",endpoint="0"} 1');
  });

  it("a 429 retry is charged on the message's own scopes: the chat's next message waits a window after it", async () => {
    const clock = new FakeClock(T0);
    const [u] = await upstreams(clock, 1, {
      clock,
      behave: (id, nth) =>
        id === 'a' && nth === 1 ? { status: 429, headers: { 'retry-after': '1' } } : undefined,
    });
    const s = await startService(
      {
        manager: { capacity: 1000, duration: '1m', scopes: { 'chat:*': { limit: 1, window: '1s' } } },
        targets: { hooks: { url: u!.url, limits: [{ limit: 100, window: '1s' }] } },
      },
      { clock },
    );
    cleanups.push(() => s.close());
    const send = (id: string) =>
      s.call('POST', '/v1/messages', {
        target: 'hooks',
        messages: [{ id, payload: { id }, scopes: 'chat:1' }],
      });
    expect((await send('a')).body.status).toBe('passed-to-sender');
    await waitFor(() => u!.received.length === 1, 'the first try of a (answered 429)');
    expect((await send('b')).body.status).toBe('enqueued');
    // The retry of `a` goes after Retry-After; the receiver counts it, so `b` (same chat, 1 per second)
    // must come a full second after that retry, not a second after a's first try.
    for (let t = 0; t < 30; t++) {
      await clock.advance(100);
      await new Promise((r) => setTimeout(r, 15));
    }
    await waitFor(() => u!.received.length === 3, 'the retry of a, then b');
    const [, retry, b] = u!.received;
    expect(retry!.id).toBe('a');
    expect(b!.id).toBe('b');
    expect(b!.at - retry!.at).toBeGreaterThanOrEqual(1000);
  });

  it('5xx and network errors retry with backoff; other 4xx dead-letter at once', async () => {
    const clock = new FakeClock(T0);
    const [u] = await upstreams(clock, 1, {
      clock,
      behave: (id, nth) =>
        id === 'flaky' && nth <= 2 ? { status: 503 } : id === 'bad' ? { status: 422 } : undefined,
    });
    const s = await service(
      {
        manager: {
          capacity: 1000,
          duration: '1m',
          retry: { maxAttempts: 5, baseDelay: '1s', maxDelay: '4s' },
        },
        targets: { hooks: { url: u!.url }, down: { url: 'http://127.0.0.1:9/never' } },
      },
      clock,
    );
    await post(s, ['flaky']);
    await post(s, ['bad']);
    await s.call('POST', '/v1/messages', { target: 'down', messages: [{ id: 'gone', payload: 1 }] });
    await waitFor(async () => (await status(s, 'bad')).status === 'dead-lettered', 'bad dead-lettered');
    const bad = await status(s, 'bad');
    expect(bad.attempts).toBe(1);
    expect(bad.lastError).toContain('422');
    await waitFor(async () => (await status(s, 'flaky')).status === 'retrying', 'flaky retrying');
    await waitFor(async () => (await status(s, 'gone')).status === 'retrying', 'gone retrying');
    expect((await status(s, 'gone')).lastError).toContain('network error');
    for (let i = 0; i < 6 && u!.delivered().get('flaky') !== 1; i++) {
      await clock.advance(4000);
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitFor(() => u!.delivered().get('flaky') === 1, 'flaky delivered on its third try');
    expect(u!.received.filter((r) => r.id === 'flaky').map((r) => r.status)).toEqual([503, 503, 200]);
    const letters = (await s.call('GET', '/v1/dead-letters')).body.deadLetters;
    expect(letters.map((d: { messages: Array<{ id: string }> }) => d.messages[0]!.id)).toContain('bad');
  });

  it('a per-request timeout fails the attempt', async () => {
    const clock = new FakeClock(T0);
    const [u] = await upstreams(clock, 1, { clock, behave: () => ({ status: 200, delayMs: 2000 }) });
    const s = await service({ targets: { hooks: { url: u!.url, timeout: '100ms' } } }, clock);
    await post(s, ['slow']);
    await waitFor(async () => (await status(s, 'slow')).status === 'retrying', 'timed out', 3000);
    expect((await status(s, 'slow')).lastError).toContain('no answer within 100ms');
  });

  it('partial batch: a target failing one message of five → the four are delivered once, the fifth retried', async () => {
    const clock = new FakeClock(T0);
    const [u] = await upstreams(clock, 1, {
      clock,
      behave: (id, nth) => (id === 'p3' && nth === 1 ? { status: 500 } : undefined),
    });
    const s = await service(
      {
        manager: {
          capacity: 1000,
          duration: '1m',
          retry: { maxAttempts: 5, baseDelay: '1s', maxDelay: '1s' },
        },
        targets: { hooks: { url: u!.url } },
      },
      clock,
    );
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5'];
    expect((await post(s, ids)).body.status).toBe('passed-to-sender');
    await waitFor(() => u!.received.length === 5, 'five requests');
    expect([...u!.delivered().keys()].sort()).toEqual(['p1', 'p2', 'p4', 'p5']);
    await waitFor(async () => (await status(s, 'p3')).status === 'retrying', 'the batch retrying');
    await clock.advance(1000);
    await waitFor(() => u!.delivered().get('p3') === 1, 'p3 delivered');
    await waitFor(async () => (await status(s, 'p1')).deliveredAt !== null, 'the batch recorded');
    for (const id of ids) expect(u!.delivered().get(id), id).toBe(1);
    expect(u!.received).toHaveLength(6);
  });
});
