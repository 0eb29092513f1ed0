import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { hasBinary, RedisServer, skipRedis, uniquePrefix } from '../helpers/redis.js';
import { parseExposition, sample } from './exposition.js';
import { type Running, startService, T0 } from './helpers.js';
import { startUpstream, type Upstream, waitFor } from './upstream.js';

const skip = (await skipRedis('service on Redis')) || !hasBinary('redis-server');

describe.skipIf(skip)('service on Redis', () => {
  let redis: RedisServer;
  let service: Running;
  let upstream: Upstream;
  beforeAll(async () => {
    redis = await RedisServer.start();
    const clock = new FakeClock(T0);
    upstream = await startUpstream({ clock });
    service = await startService(
      {
        backend: redis.url,
        redisPrefix: uniquePrefix('server'),
        log: { level: 'silent' },
        targets: { hooks: { url: upstream.url, limits: [{ limit: 10, window: '1s' }] } },
      },
      { clock },
    );
  });
  afterAll(async () => {
    await service?.close();
    await upstream?.close();
    await redis?.stop();
  });

  const mode = async () =>
    parseExposition((await service.call('GET', '/metrics')).body as string).find(
      (s) => s.name === 'ratekeeper_backend_mode' && s.value === 1,
    )?.labels.mode;

  it('delivers; metrics say redis; readyz follows Redis going away and coming back', async () => {
    const ok = await service.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [{ id: 'r1', payload: 1 }],
    });
    expect(ok.body, JSON.stringify(ok.body)).toMatchObject({ status: 'passed-to-sender' });
    await waitFor(() => upstream.delivered().get('r1') === 1, 'delivered through Redis');
    expect(await mode()).toBe('redis');
    expect((await service.call('GET', '/readyz')).status).toBe(200);
    const m = parseExposition((await service.call('GET', '/metrics')).body as string);
    expect(sample(m, 'ratekeeper_admitted_total', { scope: 'target:hooks#0' })).toBe(1);

    await redis.kill();
    // A submission while Redis is down is still an answer, never a 5xx.
    const down = await service.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [{ id: 'r2', payload: 1 }],
    });
    expect(down.status).toBe(200);
    expect(down.body.status).toBe('dropped-failed-to-enqueue');
    expect((await service.call('GET', '/readyz')).status).toBe(503);
    expect(await mode()).toBe('fallback');

    await redis.restart();
    await waitFor(async () => (await service.call('GET', '/readyz')).status === 200, 'ready again', 15_000);
  }, 60_000);
});
