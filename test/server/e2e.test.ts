/**
 * End to end: the real `ratekeeper serve` process on a free port with SQLite, a real HTTP client, the real
 * CLI; then `kill -9` while messages wait for a downed receiver, and a restart of both.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.js';
import { parseExposition, sample } from './exposition.js';
import { startUpstream, type Upstream, waitFor } from './upstream.js';

const run = promisify(execFile);
const TOKEN = 'e2e-token';
const dir = mkdtempSync(join(tmpdir(), 'rk-e2e-'));
const children: ChildProcess[] = [];
let upstream: Upstream | undefined;

afterAll(async () => {
  for (const child of children)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function serve(config: string): ChildProcess {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/index.ts', 'serve', '--config', config],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, RATEKEEPER_TOKENS: '' },
    },
  );
  children.push(child);
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  return child;
}
let stderr = '';

async function cli(...args: string[]): Promise<unknown> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: { ...process.env, RATEKEEPER_TOKEN: TOKEN },
  });
  return JSON.parse(stdout);
}

describe('ratekeeper serve, end to end', () => {
  it('serves, delivers, reports; survives kill -9 with messages waiting for a downed receiver', async () => {
    const upstreamPort = await freePort();
    const behave = (id: string) => (id.startsWith('dead') ? { status: 400 } : undefined);
    upstream = await startUpstream({ clock: systemClock, behave }, upstreamPort);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const config = join(dir, 'ratekeeper.yaml');
    writeFileSync(
      config,
      `listen: 127.0.0.1:${port}
backend: sqlite:${join(dir, 'rk.db')}
auth:
  tokens: [${TOKEN}]
log: { level: warn }
manager:
  capacity: 100
  duration: 1m
  sleep: 50ms
  leaseTime: 3s
  retry: { maxAttempts: 50, baseDelay: 100ms, maxDelay: 300ms }
targets:
  hooks:
    url: ${upstream.url}
    timeout: 5s
    limits: [{ limit: 50, window: 1s }]
`,
    );
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(url + path, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, text, body: text.startsWith('{') ? JSON.parse(text) : undefined };
    };
    const up = async () => {
      try {
        return (await fetch(`${url}/readyz`)).status === 200;
      } catch {
        return false;
      }
    };
    const submit = (ids: string[]) =>
      call('POST', '/v1/messages', { target: 'hooks', messages: ids.map((id) => ({ id, payload: { id } })) });
    const record = async (id: string) => (await call('GET', `/v1/messages/${id}`)).body;

    let service = serve(config);
    await waitFor(up, 'the service to start', 60_000).catch((error) => {
      throw new Error(`${error.message}; its stderr: ${stderr}`);
    });

    // Submit, status, quota, /queue/stats, /metrics.
    expect((await submit(['m1', 'm2'])).body).toEqual({ status: 'passed-to-sender', ids: ['m1', 'm2'] });
    expect((await submit(['dead1'])).body.status).toBe('passed-to-sender');
    await waitFor(async () => (await record('m1')).deliveredAt !== null, 'm1 recorded');
    await waitFor(async () => (await record('dead1')).status === 'dead-lettered', 'dead1 dead-lettered');
    expect(await record('m2')).toMatchObject({ id: 'm2', status: 'passed-to-sender', attempts: 0 });
    expect((await call('GET', '/v1/quota')).body).toEqual({ remaining: 97, total: 100 });
    expect((await call('GET', '/queue/stats')).body).toEqual({
      stats: { critical: 0, normal: 0, optional: 0, retry: 0, dlq: 1 },
      total_queued: 0,
      total_failed: 1,
    });
    const metrics = parseExposition((await call('GET', '/metrics')).text);
    expect(sample(metrics, 'ratekeeper_sent_total', { target: 'hooks', endpoint: '0' })).toBe(2);
    expect(sample(metrics, 'ratekeeper_dead_letters')).toBe(1);
    // Both offers admitted, on the manager's quota and on the target's primary (decided in SQLite's turn).
    expect(sample(metrics, 'ratekeeper_admitted_total', { scope: 'rk:manager:default' })).toBe(2);
    expect(sample(metrics, 'ratekeeper_admitted_total', { scope: 'target:hooks#0' })).toBe(2);
    expect(sample(metrics, 'ratekeeper_backend_mode', { mode: 'sqlite' })).toBe(1);

    // Dead letters through the CLI against the running service: list, replay (fails again), purge.
    const access = ['--url', url, '--json'];
    const listed = (await cli('dlq', 'list', ...access)) as {
      deadLetters: Array<{ messages: Array<{ id: string }> }>;
    };
    expect(listed.deadLetters.map((d) => d.messages.map((m) => m.id))).toEqual([['dead1']]);
    expect(await cli('dlq', 'replay', ...access)).toEqual({ replayed: 1 });
    await waitFor(() => upstream!.received.filter((r) => r.id === 'dead1').length === 2, 'dead1 sent again');
    await waitFor(async () => (await record('dead1')).status === 'dead-lettered', 'dead1 dead again');
    expect(await cli('dlq', 'purge', ...access)).toEqual({ purged: 1 });
    expect((await call('GET', '/v1/dead-letters')).body).toEqual({ deadLetters: [] });

    // The receiver goes down; messages wait (retrying); the service is killed with SIGKILL.
    await upstream.close();
    const waiting = ['w1', 'w2', 'w3', 'w4', 'w5'];
    for (const id of waiting) expect((await submit([id])).body.status).toMatch(/passed-to-sender|enqueued/);
    await waitFor(async () => (await record('w5')).status === 'retrying', 'w5 retrying');
    service.kill('SIGKILL');
    await new Promise((resolve) => service.once('exit', resolve));
    expect(await up()).toBe(false);

    // Restart both: every message delivered, statuses intact.
    upstream = await startUpstream({ clock: systemClock, behave }, upstreamPort);
    service = serve(config);
    await waitFor(up, 'the service to restart', 60_000);
    await waitFor(
      () => waiting.every((id) => upstream!.delivered().has(id)),
      'every waiting message delivered',
      20_000,
    );
    for (const id of waiting) {
      await waitFor(async () => (await record(id)).deliveredAt !== null, `${id} recorded as delivered`);
      expect((await record(id)).status).toBe('passed-to-sender');
    }
    for (const id of ['m1', 'm2']) {
      expect(await record(id)).toMatchObject({ status: 'passed-to-sender', attempts: 0 });
      expect(upstream.delivered().has(id)).toBe(false); // delivered before the crash, never again
    }
    expect((await call('GET', '/queue/stats')).body.total_queued).toBe(0);
    // Direct access to the backend (the CLI's --backend) sees the same queue.
    expect(await cli('status', 'w1', '--backend', `sqlite:${join(dir, 'rk.db')}`, '--json')).toMatchObject({
      id: 'w1',
      status: 'passed-to-sender',
    });

    // SIGTERM: graceful stop, exit code 0.
    service.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => service.once('exit', (c) => resolve(c)));
    expect(code).toBe(0);
  }, 180_000);
});
