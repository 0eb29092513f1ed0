import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { patternMatcher } from '../../src/server/metrics.js';
import { parseExposition, sample } from './exposition.js';
import { type Running, startService, T0 } from './helpers.js';
import { startUpstream, type Upstream, waitFor } from './upstream.js';

let service: Running | undefined;
let upstream: Upstream | undefined;
afterEach(async () => {
  await service?.close();
  await upstream?.close();
  service = upstream = undefined;
});

describe('metrics', () => {
  it('labels scopes by their configured pattern', () => {
    const of = patternMatcher(['chat:*', 'chat:vip*', 'global', 'target:hooks#0']);
    expect(of('chat:42')).toBe('chat:*');
    expect(of('chat:vip1')).toBe('chat:vip*');
    expect(of('global')).toBe('global');
    expect(of('target:hooks#0')).toBe('target:hooks#0');
    expect(of('user:1')).toBe('other');
  });

  it('/metrics exposes admitted, refused, queued, in flight, sent, retries, dead letters, 429s, latency, backend mode, quota', async () => {
    const clock = new FakeClock(T0);
    upstream = await startUpstream({
      clock,
      behave: (id, nth) =>
        id === 'limited' && nth === 1
          ? { status: 429, headers: { 'retry-after': '1' } }
          : id === 'flaky' && nth === 1
            ? { status: 503 }
            : id === 'bad'
              ? { status: 400 }
              : undefined,
    });
    service = await startService(
      {
        manager: {
          capacity: 5,
          duration: '1m',
          scopes: { 'chat:*': { limit: 1, window: '1m' } },
          retry: { baseDelay: '1m', maxDelay: '1m' }, // jitter 0.5: flaky waits 30 s
        },
        targets: { hooks: { url: upstream.url, limits: [{ limit: 10, window: '1s' }] } },
      },
      { clock },
    );
    const submit = (id: string, priority = 'normal', scopes?: string) =>
      service!.call('POST', '/v1/messages', {
        target: 'hooks',
        priority,
        messages: [{ id, payload: id, ...(scopes ? { scopes } : {}) }],
      });
    // 'limited' last: its 429 (which blocks the only endpoint) cannot come back before the others went.
    // It is critical: its retry is admitted again (charged like any send) and takes the low last unit.
    for (const id of ['ok', 'bad', 'flaky', 'limited']) {
      const priority = id === 'limited' ? 'critical' : 'normal';
      expect((await submit(id, priority, id === 'ok' ? 'chat:1' : undefined)).body.status).toBe(
        'passed-to-sender',
      );
    }
    // One message of quota left (low): a critical one still goes, but chat:1 refuses it (1 a minute).
    expect((await submit('same-chat', 'critical', 'chat:1')).body.status).toBe('enqueued');
    expect((await submit('late')).body.status).toBe('enqueued');
    expect((await submit('opt', 'optional')).body.status).toBe('dropped');
    // The 429 blocks the endpoint for everyone: 'limited' goes again once the second has passed.
    await waitFor(() => upstream!.received.length === 4, 'four answers');
    await clock.advance(1010);
    await waitFor(() => upstream!.received.length === 5, 'five answers');
    await waitFor(() => upstream!.delivered().size === 2, 'two delivered');
    await waitFor(
      async () => (await service!.call('GET', '/v1/messages/bad')).body.status === 'dead-lettered',
      'dlq',
    );
    await waitFor(
      async () => (await service!.call('GET', '/v1/messages/flaky')).body.status === 'retrying',
      'retry',
    );
    const answer = await service.call('GET', '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toContain('text/plain');
    const m = parseExposition(answer.body as string);
    const manager = service.server.manager.scope;
    expect(sample(m, 'ratekeeper_admitted_total', { scope: manager })).toBe(5); // with the retry of 'limited'
    expect(sample(m, 'ratekeeper_admitted_total', { scope: 'chat:*' })).toBe(1);
    // ok, flaky, limited twice (the 429, then after it), bad
    expect(sample(m, 'ratekeeper_admitted_total', { scope: 'target:hooks#0' })).toBe(5);
    expect(sample(m, 'ratekeeper_refused_total', { scope: 'chat:*' })).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'ratekeeper_queued', { priority: 'normal' })).toBe(1);
    expect(sample(m, 'ratekeeper_queued', { priority: 'critical' })).toBe(1);
    expect(sample(m, 'ratekeeper_retrying')).toBe(1);
    expect(sample(m, 'ratekeeper_in_flight')).toBe(0);
    expect(sample(m, 'ratekeeper_dead_letters')).toBe(1);
    expect(sample(m, 'ratekeeper_dead_lettered_total')).toBe(1);
    expect(sample(m, 'ratekeeper_retries_total')).toBe(2); // flaky's, and limited's after its 429
    expect(sample(m, 'ratekeeper_dropped_total', { status: 'dropped' })).toBe(1);
    expect(sample(m, 'ratekeeper_sent_total', { target: 'hooks', endpoint: '0' })).toBe(2); // ok, limited (its retry)
    expect(sample(m, 'ratekeeper_upstream_429_total', { target: 'hooks', endpoint: '0' })).toBe(1);
    expect(sample(m, 'ratekeeper_delivery_duration_seconds_count', { target: 'hooks' })).toBe(2);
    expect(sample(m, 'ratekeeper_delivery_duration_seconds_bucket', { target: 'hooks', le: '+Inf' })).toBe(2);
    expect(sample(m, 'ratekeeper_backend_mode', { mode: 'memory' })).toBe(1);
    expect(sample(m, 'ratekeeper_quota_limit', { scope: manager, target: '' })).toBe(5);
    expect(sample(m, 'ratekeeper_quota_remaining', { scope: manager, target: '' })).toBe(0);
    expect(sample(m, 'ratekeeper_quota_limit', { scope: 'target:hooks#0', target: 'hooks' })).toBe(10);
    // In the last second: only 'limited' again (the four at T0 have left the window).
    expect(sample(m, 'ratekeeper_quota_remaining', { scope: 'target:hooks#0', target: 'hooks' })).toBe(9);
  });
});
