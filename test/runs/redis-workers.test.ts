import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { type RunRecord, Runs } from '../../src/runs/index.js';
import { deletePrefix, REDIS_URL, skipRedis, uniquePrefix, waitFor } from '../helpers/redis.js';
import { HttpReceiver } from './http-receiver.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const skip = await skipRedis('runs served by several processes on Redis');
const children = new Set<ChildProcess>();
const receiver = new HttpReceiver(
  { e1: { limit: 20, windowMs: 2000, delayMs: 400 }, e2: { limit: 20, windowMs: 2000, delayMs: 400 } },
  0,
);
const prefix = uniquePrefix('runs');

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  await receiver.stop();
  if (skip) return;
  const client = new Redis(REDIS_URL);
  await deletePrefix(client, prefix);
  const keys = await client.keys(`{${prefix}:runs}*`);
  if (keys.length > 0) await client.unlink(...keys);
  client.disconnect();
});

function worker(config: Record<string, unknown>) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/run-worker.ts', JSON.stringify(config)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk) => {
    out += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    err += chunk;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>(
    (resolve) => child.once('exit', (code, signal) => resolve({ code, signal, out, err })),
  );
  return { child, exit };
}

describe.skipIf(skip)('two worker processes on one Redis', () => {
  it('share a run; one is SIGKILLed mid-run: every job is processed at least once, none lost', async () => {
    const base = await receiver.start();
    const backend = new RedisBackend({ url: REDIS_URL, prefix });
    const runs = new Runs({ backend });
    // 160 jobs of 400 ms in 40 s: the plan needs more than one worker, so both processes get a share of it.
    const ids = Array.from({ length: 160 }, (_, i) => `j${i}`);
    await runs.enqueue(
      'A',
      ids.map((id) => ({ id, payload: null })),
    );
    const record = await runs.create({
      deadline: '40s',
      maxWorkers: 6,
      margin: '100ms',
      replanEvery: '1s',
      types: {
        A: {
          duration: '400ms',
          endpoints: [
            { name: 'e1', limit: 20, window: '2s' },
            { name: 'e2', limit: 20, window: '2s' },
          ],
        },
      },
    });
    expect(record.workers.A).toBeGreaterThanOrEqual(2);
    const config = { url: REDIS_URL, prefix, runId: record.id, base };
    const one = worker(config);
    const two = worker(config);
    const pid = String(one.child.pid);
    // Kill the first once it has made calls and has one in flight (each call takes 400 ms to answer).
    await waitFor(
      () => receiver.calls.filter((c) => c.worker === pid).length >= 8,
      30_000,
      'worker one calling',
    );
    one.child.kill('SIGKILL');
    const killed = await one.exit;
    expect(killed.signal).toBe('SIGKILL');
    const inFlightAtKill = receiver.calls.filter((c) => c.worker === pid).length;

    const second = await two.exit;
    expect(second.code, second.err).toBe(0);
    const final = JSON.parse(second.out.trim().split('\n').pop()!) as RunRecord;
    const succeeded = new Set(receiver.succeeded());
    expect([...succeeded].sort()).toEqual([...ids].sort());
    expect(receiver.calls.filter((c) => c.worker === String(two.child.pid)).length).toBeGreaterThan(0);
    expect(inFlightAtKill).toBeGreaterThanOrEqual(8);
    expect(receiver.violations).toBe(0);
    expect(final.status).toBe('finished');
    expect(final.leftovers).toEqual({ A: 0 });
    const processed = Object.values(final.processed.A ?? {}).reduce((a, b) => a + b, 0);
    expect(processed).toBeGreaterThanOrEqual(ids.length - inFlightAtKill);
    expect(await runs.backlog(['A'])).toEqual({ A: 0 });
    const stored = await runs.get(record.id);
    expect(stored?.status).toBe('finished');
    await backend.close();
  }, 90_000);
});
