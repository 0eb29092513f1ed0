import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { directAccess, httpAccess, type ServiceAccess, ServiceError } from '../../src/cli/service-access.js';
import { table } from '../../src/cli/table.js';
import { FakeClock } from '../../src/core/clock.js';
import { type Running, startService, T0 } from '../server/helpers.js';
import { startUpstream, type Upstream, waitFor } from '../server/upstream.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-cli-'));
const db = join(dir, 'rk.db');
let service: Running;
let upstream: Upstream;

beforeAll(async () => {
  const clock = new FakeClock(T0);
  upstream = await startUpstream({
    clock,
    behave: (id) => (id.startsWith('bad') ? { status: 400 } : undefined),
  });
  service = await startService(
    {
      backend: `sqlite:${db}`,
      auth: { tokens: ['tk'] },
      log: { level: 'silent' },
      manager: { capacity: 50, duration: '1m' },
      targets: { hooks: { url: upstream.url } },
    },
    { clock, token: 'tk' },
  );
  await service.call('POST', '/v1/messages', {
    target: 'hooks',
    messages: [
      { id: 'good', payload: 1 },
      { id: 'bad1', payload: 2 },
    ],
  });
  await waitFor(
    async () => (await service.call('GET', '/v1/messages/bad1')).body.status === 'dead-lettered',
    'dlq',
  );
});
afterAll(async () => {
  await service.close();
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
});

async function checks(access: ServiceAccess) {
  // 'good' was delivered (a partial outcome): only 'bad1' is a dead letter.
  expect((await access.stats()).stats.dlq).toBe(1);
  expect(await access.status('good')).toMatchObject({ status: 'passed-to-sender' });
  expect(await access.status('bad1')).toMatchObject({ status: 'dead-lettered', attempts: 1 });
  expect(await access.status('nope')).toBeUndefined();
  const letters = await access.deadLetters(10);
  expect(letters.map((d) => d.messages.map((m) => [m.id, m.target]))).toEqual([[['bad1', 'hooks']]]);
  expect(await access.purge({ messageIds: ['not-there'] })).toBe(0);
}

describe('CLI access', () => {
  it('over HTTP: the same answers as the routes; errors are ServiceErrors', async () => {
    const access = httpAccess(service.url, 'tk');
    await checks(access);
    expect(await access.quota()).toEqual({ remaining: 48, total: 50 });
    await expect(httpAccess(service.url, 'wrong').quota()).rejects.toMatchObject({
      name: 'ServiceError',
      status: 401,
      code: 'ERR_UNAUTHORIZED',
    });
    const unreachable = httpAccess('http://127.0.0.1:9').stats();
    await expect(unreachable).rejects.toBeInstanceOf(ServiceError);
    await expect(unreachable).rejects.toMatchObject({ code: 'ERR_UNREACHABLE' });
  });

  it('straight from the backend (the service may be down)', async () => {
    // (Its quota reads the wall clock; the service here runs on a fake one, so only the queue is compared.)
    const access = directAccess(`sqlite:${db}`, undefined);
    try {
      await checks(access);
      expect(await access.replay({ messageIds: ['bad1'] })).toBe(1);
      expect((await access.status('bad1'))?.status).toBe('enqueued');
    } finally {
      await access.close();
    }
  });

  it('prints aligned tables', () => {
    expect(
      table(
        ['a', 'long header'],
        [
          [1, null],
          ['wide value', 'x'],
        ],
      ),
    ).toBe(
      ['a           long header', '----------  -----------', '1           -', 'wide value  x'].join('\n'),
    );
  });
});
