/**
 * Reserve and reconcile across real processes: 4 processes × 8 concurrent callers share one TPM quota on
 * one SQLite file and on one Redis, against a local receiver that counts tokens per sliding window. Real
 * usage is 50–100 % of each estimate, so every reservation is corrected downwards after its call. The
 * receiver never sees its limit exceeded in any window; the naive loop (check, call, record afterwards)
 * on the same load does exceed it, which shows the check can fail.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { REDIS_URL, skipRedis, uniquePrefix } from '../../helpers/redis.js';
import { tempPath, trackPrefix } from './backends.js';
import { TpmReceiver } from './mock-tpm.js';

const skip = await skipRedis('multi-process reservations on Redis');
const TPM = 2000;

function worker(spec: string, prefix: string, url: string, calls: number, mode: string) {
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(import.meta.dirname, 'fixtures/reserve-worker.ts'),
      spec,
      prefix,
      url,
      String(calls),
      mode,
    ],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TPM: String(TPM) } },
  );
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  const lines: string[] = [];
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    if (line === 'ready') onReady();
  });
  const result = new Promise<{ calls: number; refused: number }>((resolve, reject) => {
    child.on('close', (code) =>
      code === 0 ? resolve(JSON.parse(lines.at(-1)!)) : reject(new Error(`worker exited ${code}: ${stderr}`)),
    );
  });
  return { child, ready, result };
}

let receiver: TpmReceiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

async function run(spec: string, prefix: string, mode: 'reserve' | 'record', calls: number) {
  receiver = await TpmReceiver.start({ windowMs: 1000, limit: TPM, delayMs: 15 });
  const workers = Array.from({ length: 4 }, () => worker(spec, prefix, receiver!.url, calls, mode));
  await Promise.race([Promise.all(workers.map((w) => w.ready)), Promise.all(workers.map((w) => w.result))]);
  for (const w of workers) w.child.stdin.write('go\n');
  const results = await Promise.all(workers.map((w) => w.result));
  return { results, receiver };
}

describe('reservations shared by 4 processes', () => {
  it('on one SQLite file: the receiver never sees TPM exceeded', async () => {
    const { results, receiver: r } = await run(`sqlite:${tempPath('mp.sqlite')}`, '', 'reserve', 2);
    expect(results.reduce((n, x) => n + x.calls, 0)).toBe(4 * 8 * 2);
    expect(r.refused).toBe(0);
    expect(r.maxInAnyWindow()).toBeLessThanOrEqual(TPM);
  }, 120_000);

  it.skipIf(skip)(
    'on one Redis: the receiver never sees TPM exceeded',
    async () => {
      const prefix = uniquePrefix('llm-mp');
      trackPrefix(prefix);
      const { results, receiver: r } = await run(REDIS_URL, prefix, 'reserve', 2);
      expect(results.reduce((n, x) => n + x.calls, 0)).toBe(64);
      expect(r.refused).toBe(0);
      expect(r.maxInAnyWindow()).toBeLessThanOrEqual(TPM);
    },
    120_000,
  );

  it('control: check, call, then record (no reservation) exceeds TPM on the same load', async () => {
    const { receiver: r } = await run(`sqlite:${tempPath('mp-naive.sqlite')}`, '', 'record', 2);
    expect(r.maxInAnyWindow()).toBeGreaterThan(TPM);
    expect(r.refused).toBeGreaterThan(0);
  }, 120_000);
});
