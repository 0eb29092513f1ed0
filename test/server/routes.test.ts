import { afterEach, describe, expect, it } from 'vitest';
import { type Running, startService } from './helpers.js';
import { startUpstream, type Upstream, waitFor } from './upstream.js';

let service: Running | undefined;
let upstream: Upstream | undefined;
afterEach(async () => {
  await service?.close();
  await upstream?.close();
  service = upstream = undefined;
});

async function start(extra: Record<string, unknown> = {}) {
  const { FakeClock } = await import('../../src/core/clock.js');
  const clock = new FakeClock(1_700_000_000_000);
  // 'dup' always fails with 503: it stays live (retrying), so its id is taken.
  upstream = await startUpstream({ clock, behave: (id) => (id === 'dup' ? { status: 503 } : undefined) });
  service = await startService(
    { manager: { capacity: 100, duration: '1m' }, targets: { hooks: { url: upstream.url } }, ...extra },
    { clock },
  );
  return service;
}

describe('routes', () => {
  it('POST /v1/messages answers the status and ids; GET /v1/messages/:id the record', async () => {
    const s = await start();
    const answer = await s.call('POST', '/v1/messages', {
      target: 'hooks',
      priority: 'critical',
      messages: [
        { id: 'a', payload: { text: 'hi' } },
        { id: 'b', payload: { text: 'there' } },
      ],
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ status: 'passed-to-sender', ids: ['a', 'b'] });
    await waitFor(() => upstream!.delivered().size === 2, 'both delivered');
    expect(upstream!.received.map((r) => r.body)).toEqual([{ text: 'hi' }, { text: 'there' }]);
    await waitFor(async () => (await s.call('GET', '/v1/messages/a')).body.deliveredAt !== null, 'recorded');
    const record = await s.call('GET', '/v1/messages/a');
    expect(record.status).toBe(200);
    expect(record.body).toMatchObject({
      id: 'a',
      status: 'passed-to-sender',
      priority: 'critical',
      attempts: 0,
    });
    expect(Object.keys(record.body).sort()).toEqual(
      ['attempts', 'createdAt', 'deliveredAt', 'id', 'lastError', 'priority', 'status', 'updatedAt'].sort(),
    );
    const missing = await s.call('GET', '/v1/messages/nope');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('ERR_NOT_FOUND');
  });

  it('dropped statuses are answers (200), not errors', async () => {
    const s = await start({ manager: { capacity: 10, duration: '1m' } });
    const tooLarge = await s.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [1, 2, 3, 4].map((i) => ({ id: `big${i}`, payload: i })),
    });
    expect(tooLarge.status).toBe(200);
    expect(tooLarge.body.status).toBe('dropped-batch-too-large');
    // Exhaust the quota (10), then an optional message is dropped and a normal one queued.
    for (let i = 0; i < 4; i++) {
      await s.call('POST', '/v1/messages', {
        target: 'hooks',
        priority: 'critical',
        messages: [0, 1, 2].map((j) => ({ id: `q${i}-${j}`, payload: j })),
      });
    }
    const optional = await s.call('POST', '/v1/messages', {
      target: 'hooks',
      priority: 'optional',
      messages: [{ id: 'opt', payload: 1 }],
    });
    expect(optional.body.status).toBe('dropped');
    const normal = await s.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [{ id: 'n1', payload: 1 }],
    });
    expect(normal.body.status).toBe('enqueued');
  });

  it('bad input is a 4xx naming the field; a duplicate id is 409; a big body 413', async () => {
    const s = await start({ bodyLimit: 10_000 });
    const cases: Array<[unknown, string]> = [
      [{ messages: [{ id: 'x', payload: 1 }] }, 'target'],
      [{ target: 'nope', messages: [{ id: 'x', payload: 1 }] }, 'target'],
      [{ target: 'hooks', messages: [] }, 'messages'],
      [{ target: 'hooks', messages: [{ id: 5, payload: 1 }] }, 'messages.0.id'],
      [{ target: 'hooks', messages: [{ id: 'x' }] }, 'messages.0.payload'],
      [{ target: 'hooks', priority: 'urgent', messages: [{ id: 'x', payload: 1 }] }, 'priority'],
      [{ target: 'hooks', messages: [{ id: 'x', payload: 1, extra: true }] }, 'messages.0.extra'],
      [
        {
          target: 'hooks',
          messages: [
            { id: 'd', payload: 1 },
            { id: 'd', payload: 2 },
          ],
        },
        'messages.1.id',
      ],
      [{ target: 'hooks', scopes: 'target:hooks#0', messages: [{ id: 'x', payload: 1 }] }, 'scopes'],
      [
        { target: 'hooks', messages: [{ id: 'x', payload: 1, scopes: ['chat:1', 'rk:manager:default'] }] },
        'messages.0.scopes',
      ],
    ];
    for (const [body, field] of cases) {
      const answer = await s.call('POST', '/v1/messages', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error.field, JSON.stringify(body)).toBe(field);
      expect(answer.body.error.message.length).toBeGreaterThan(0);
    }
    let deep: unknown = 1;
    for (let i = 0; i < 100; i++) deep = [deep];
    const tooDeep = await s.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [{ id: 'x', payload: deep }],
    });
    expect(tooDeep.status).toBe(400);
    expect(tooDeep.body.error.field).toBe('messages.0.payload');
    const notJson = await s.call('POST', '/v1/messages', '{"target":', {});
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('ERR_INVALID_JSON');
    const big = await s.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [{ id: 'x', payload: 'y'.repeat(20_000) }],
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('ERR_BODY_TOO_LARGE');
    const first = await s.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [{ id: 'dup', payload: 1 }],
    });
    expect(first.status).toBe(200);
    await waitFor(
      async () => (await s.call('GET', '/v1/messages/dup')).body.status === 'retrying',
      'retrying',
    );
    const again = await s.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [{ id: 'dup', payload: 1 }],
    });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('ERR_DUPLICATE_MESSAGE');
  });

  it('GET /v1/quota and /queue/stats in seed 001 shape', async () => {
    const s = await start({ manager: { capacity: 10, duration: '1m' } });
    await s.call('POST', '/v1/messages', { target: 'hooks', messages: [{ id: 'a', payload: 1 }] });
    const quota = await s.call('GET', '/v1/quota');
    expect(quota.body).toEqual({ remaining: 9, total: 10 });
    const stats = await s.call('GET', '/queue/stats');
    expect(stats.status).toBe(200);
    expect(stats.body).toEqual({
      stats: { critical: 0, normal: 0, optional: 0, retry: 0, dlq: 0 },
      total_queued: 0,
      total_failed: 0,
    });
  });

  it('healthz and readyz answer without auth; dashboard page at /', async () => {
    const s = await start({ auth: { tokens: ['secret'] } });
    expect((await s.call('GET', '/healthz')).status).toBe(200);
    const ready = await s.call('GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ ready: true, backend: 'memory' });
    const page = await fetch(`${s.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
  });
});
