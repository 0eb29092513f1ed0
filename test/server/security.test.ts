import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { BearerAuth, isLoopback } from '../../src/server/auth.js';
import { createServer } from '../../src/server/index.js';
import { createLogger } from '../../src/server/logger.js';
import { logSink, type Running, startService, T0 } from './helpers.js';
import { startUpstream, type Upstream, waitFor } from './upstream.js';

let service: Running | undefined;
let upstream: Upstream | undefined;
afterEach(async () => {
  await service?.close();
  await upstream?.close();
  service = upstream = undefined;
});

describe('auth', () => {
  it('compares bearer tokens (any configured one, nothing else)', () => {
    const auth = new BearerAuth(['alpha', 'beta-longer-token']);
    expect(auth.check('Bearer alpha')).toBe(true);
    expect(auth.check('bearer beta-longer-token')).toBe(true);
    for (const bad of [
      undefined,
      '',
      'alpha',
      'Bearer',
      'Bearer alph',
      'Bearer alphaa',
      'Basic alpha',
      'Bearer alpha x',
    ]) {
      expect(auth.check(bad), String(bad)).toBe(false);
    }
    expect(new BearerAuth([]).check(undefined)).toBe(true);
  });

  it('every /v1 route, /queue/stats and /metrics need the token; health and the page do not', async () => {
    const clock = new FakeClock(T0);
    upstream = await startUpstream({ clock });
    service = await startService(
      { auth: { tokens: ['s3cret'] }, targets: { hooks: { url: upstream.url } } },
      { clock },
    );
    const routes: Array<[string, string, unknown?]> = [
      ['POST', '/v1/messages', { target: 'hooks', messages: [{ id: 'a', payload: 1 }] }],
      ['GET', '/v1/messages/a'],
      ['GET', '/v1/quota'],
      ['GET', '/queue/stats'],
      ['GET', '/v1/dead-letters'],
      ['POST', '/v1/dead-letters/replay', {}],
      ['POST', '/v1/dead-letters/purge', {}],
      ['GET', '/metrics'],
    ];
    for (const [method, path, body] of routes) {
      for (const authorization of [undefined, 'Bearer wrong', 'Bearer s3cret2', 's3cret']) {
        const answer = await service.call(method, path, body, authorization ? { authorization } : {});
        expect(answer.status, `${method} ${path} ${authorization}`).toBe(401);
        expect(answer.body.error.code).toBe('ERR_UNAUTHORIZED');
        expect(answer.headers.get('www-authenticate')).toContain('Bearer');
      }
      const ok = await service.call(method, path, body, { authorization: 'Bearer s3cret' });
      expect(ok.status, `${method} ${path}`).toBeLessThan(300);
    }
    for (const path of ['/healthz', '/readyz', '/'])
      expect((await fetch(service.url + path)).status).toBe(200);
  });

  it('refuses a non-loopback listen without tokens unless insecure', () => {
    expect(isLoopback('127.0.0.1') && isLoopback('localhost') && isLoopback('::1')).toBe(true);
    expect(isLoopback('0.0.0.0') || isLoopback('10.0.0.1') || isLoopback('::')).toBe(false);
    const attempt = (config: Record<string, unknown>) => () =>
      createServer({ backend: 'memory', ...config }, { logStream: logSink().stream, env: {} });
    let error: unknown;
    try {
      attempt({ listen: '0.0.0.0:8080' })();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe('auth.tokens');
    expect(attempt({ listen: '0.0.0.0:8080', insecure: true })).not.toThrow();
    expect(attempt({ listen: '0.0.0.0:8080', auth: { tokens: ['t'] } })).not.toThrow();
  });
});

describe('logs', () => {
  it('one line per request; tokens, authorization headers and payloads never logged', async () => {
    const clock = new FakeClock(T0);
    upstream = await startUpstream({ clock, behave: (id) => (id === 'fails' ? { status: 500 } : undefined) });
    service = await startService(
      {
        auth: { tokens: ['TOKEN-SECRET-1'] },
        targets: { hooks: { url: upstream.url, headers: { 'x-api-key': 'KEY-SECRET-2' } } },
      },
      { clock, token: 'TOKEN-SECRET-1' },
    );
    const ok = await service.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [
        { id: 'fine', payload: { text: 'PAYLOAD-SECRET-3' } },
        { id: 'fails', payload: { text: 'PAYLOAD-SECRET-4' } },
      ],
    });
    expect(ok.status).toBe(200);
    await service.call('GET', '/v1/quota', undefined, { authorization: 'Bearer WRONG-SECRET-5' });
    await service.call('POST', '/v1/messages', '{"target": "PAYLOAD-SECRET-6"', {});
    await waitFor(
      async () => (await service!.call('GET', '/v1/messages/fails')).body.status === 'retrying',
      'a failure',
    );
    const text = service.logs.text();
    for (const secret of [
      'TOKEN-SECRET-1',
      'KEY-SECRET-2',
      'PAYLOAD-SECRET-3',
      'PAYLOAD-SECRET-4',
      'WRONG-SECRET-5',
      'PAYLOAD-SECRET-6',
    ]) {
      expect(text).not.toContain(secret);
    }
    const requests = service.logs.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request');
    expect(requests.find((l) => l.route === '/v1/messages' && l.status === 200)).toMatchObject({
      level: 30,
      method: 'POST',
    });
    expect(requests.filter((l) => l.route === '/v1/quota').map((l) => l.status)).toEqual([401]);
    const failure = service.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'delivery failed');
    expect(failure).toMatchObject({ endpoint: 'target:hooks#0', status: 500 });
    expect(failure.err.message).toContain('answered 500');
  });

  it('the logger censors credentials and payloads whoever logs them', () => {
    const sink = logSink();
    const logger = createLogger('info', sink.stream);
    logger.info(
      {
        headers: { authorization: 'Bearer A1' },
        payload: 'P2',
        token: 'T3',
        req: { headers: { authorization: 'A4' } },
      },
      'x',
    );
    logger.info({ message: { payload: 'P5', body: 'B6' }, auth: { tokens: ['T7'] } }, 'y');
    logger.flush();
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        for (const s of ['A1', 'P2', 'T3', 'A4', 'P5', 'B6', 'T7']) expect(sink.text()).not.toContain(s);
        expect(sink.text()).toContain('[redacted]');
        resolve();
      }),
    );
  });
});

describe('graceful shutdown', () => {
  it('close() stops accepting, finishes the delivery in flight and records it', async () => {
    const clock = new FakeClock(T0);
    upstream = await startUpstream({ clock, behave: () => ({ status: 200, delayMs: 300 }) });
    const s = await startService({ backend: 'memory', targets: { hooks: { url: upstream.url } } }, { clock });
    await s.call('POST', '/v1/messages', { target: 'hooks', messages: [{ id: 'x', payload: 1 }] });
    await waitFor(() => upstream!.received.length === 1, 'the request reached the receiver');
    await s.close();
    expect(upstream.delivered().get('x')).toBe(1);
    expect((await s.server.manager.getMessageRecord('x'))?.deliveredAt).not.toBeNull();
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();
  });
});
