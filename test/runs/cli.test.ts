import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readRunFile } from '../../src/cli/run-command.js';
import type { RunRecord } from '../../src/runs/index.js';
import { HttpReceiver } from './http-receiver.js';

const exec = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'rk-run-cli-'));
const receiver = new HttpReceiver(
  { fast: { limit: 5, windowMs: 1000, delayMs: 50 }, spare: { limit: 5, windowMs: 1000, delayMs: 50 } },
  0,
);
afterAll(async () => {
  await receiver.stop();
  rmSync(dir, { recursive: true, force: true });
});

let base = '';
const cli = (...args: string[]) => exec('node_modules/.bin/tsx', ['src/cli/index.ts', 'run', ...args]);

function runFile(base: string): string {
  const file = join(dir, 'run.yaml');
  writeFileSync(
    file,
    [
      'deadline: 4s',
      'maxWorkers: 4',
      'margin: 500ms', // the receiver runs in the test process, on a shared 2-core box: see integration.test.ts
      'types:',
      '  PING:',
      '    duration: 100ms',
      '    endpoints:',
      `      - { name: fast, limit: 5, window: 1s, url: ${base}/fast }`,
      `      - { name: spare, limit: 5, window: 1s, url: ${base}/spare }`,
      'jobs:',
      '  PING: 20',
      '',
    ].join('\n'),
  );
  return file;
}

describe('ratekeeper run', () => {
  it('start runs the file in the foreground; list, status and result read the record', async () => {
    base = await receiver.start();
    const file = runFile(base);
    const backend = `sqlite:${join(dir, 'rk.db')}`;
    const started = await cli('start', '--file', file, '--backend', backend, '--json');
    const record = JSON.parse(started.stdout) as RunRecord;
    expect(record.status).toBe('finished');
    // Primary first: `fast` serves at least as many as `spare` (which exactly depends on timing).
    const { fast = 0, spare = 0 } = record.processed.PING ?? {};
    expect(fast + spare).toBe(20);
    expect(fast).toBeGreaterThanOrEqual(spare);
    expect(spare).toBeGreaterThan(0);
    expect(receiver.succeeded()).toHaveLength(20);
    expect(receiver.violations).toBe(0);

    const list = JSON.parse((await cli('list', '--backend', backend, '--json')).stdout) as RunRecord[];
    expect(list.map((r) => r.id)).toEqual([record.id]);
    const status = await cli('status', record.id, '--backend', backend);
    expect(status.stdout).toContain(`Run ${record.id}: finished`);
    expect(status.stdout).toMatch(/PING\s+20\s+20\s+0\s+0/);
    const result = JSON.parse((await cli('result', record.id, '--backend', backend, '--json')).stdout);
    expect(result).toEqual(record);
    const cancel = JSON.parse((await cli('cancel', record.id, '--backend', backend, '--json')).stdout);
    expect(cancel.status).toBe('finished');
    await expect(cli('status', 'nope', '--backend', backend)).rejects.toMatchObject({ code: 1 });
  }, 60_000);

  it('draws a progress bar and prints the report for people', async () => {
    const file = runFile(base);
    const out = await cli('start', '--file', file, '--backend', `sqlite:${join(dir, 'rk2.db')}`);
    expect(out.stderr).toContain('run ');
    expect(out.stderr).toContain('/20 jobs');
    expect(out.stdout).toMatch(/^Run run-\S+: finished/);
    expect(out.stdout).toContain('leftovers 0');
  }, 60_000);

  it('refuses an endpoint without a URL, naming the file and key', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'deadline: 1m\ntypes:\n  A:\n    duration: 1s\n    endpoints: [{ name: a, limit: 1, window: 1s }]\n',
    );
    expect(() => readRunFile(file)).toThrow(`${file}: types.A.endpoints[0].url: expected an http(s) URL`);
  });
});

describe('ratekeeper run join', () => {
  it('serves a run another process recorded, with the file for endpoint URLs', async () => {
    const { SqliteBackend } = await import('../../src/backends/sqlite/index.js');
    const { Runs } = await import('../../src/runs/index.js');
    const path = join(dir, 'rk-join.db');
    const file = runFile(base);
    const { definition } = readRunFile(file);
    const backend = new SqliteBackend({ path });
    const runs = new Runs({ backend });
    await runs.enqueue(
      'PING',
      Array.from({ length: 6 }, (_, i) => ({ id: `p${i}`, payload: i })),
    );
    // The deadline counts from here: leave room for the CLI process to start (seconds on a loaded machine).
    const created = await runs.create({ ...definition, deadline: '30s' });
    await backend.close();
    const before = receiver.succeeded().length;
    const out = await cli('join', created.id, '--file', file, '--backend', `sqlite:${path}`, '--json');
    const record = JSON.parse(out.stdout) as RunRecord;
    expect(record.id).toBe(created.id);
    expect(record.status).toBe('finished');
    expect(Object.values(record.processed.PING ?? {}).reduce((a, b) => a + b, 0)).toBe(6);
    expect(receiver.succeeded().slice(before).sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
  }, 60_000);
});

describe('ratekeeper run start with a run file that is not valid', () => {
  it('names the file and the key, and adds none of its jobs', async () => {
    const { runStart } = await import('../../src/cli/run-command.js');
    const { SqliteBackend } = await import('../../src/backends/sqlite/index.js');
    const { Runs } = await import('../../src/runs/index.js');
    const file = join(dir, 'bad-limit.yaml');
    const path = join(dir, 'rk-bad.db');
    writeFileSync(
      file,
      'deadline: 1m\ntypes:\n  A:\n    duration: 1s\n    endpoints: [{ name: a, limit: lots, window: 1s, url: http://127.0.0.1:9/a }]\njobs:\n  A: 3\n',
    );
    await expect(runStart({ file, backend: `sqlite:${path}`, json: true })).rejects.toThrow(
      `${file}: types.A.endpoints[0].limit: expected an integer >= 1`,
    );
    const backend = new SqliteBackend({ path });
    expect(await new Runs({ backend }).backlog(['A'])).toEqual({ A: 0 });
    await backend.close();
  });
});
