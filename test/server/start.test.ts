import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Holds a port on 127.0.0.1 so the demo finds it taken. */
async function takenPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as { port: number }).port;
}

describe('ratekeeper start (npm start)', () => {
  it('serves the dashboard, feeds the demo upstream without 429s, and stops cleanly on Ctrl-C', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rk-start-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await takenPort();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/index.ts', 'start', '--db', join(dir, 'rk.db'), '--port', String(port)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    cleanups.push(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const waitFor = async (pattern: RegExp, ms = 40_000) => {
      const deadline = Date.now() + ms;
      while (!pattern.test(out)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${pattern} in:\n${out}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return pattern.exec(out)!;
    };

    expect((await waitFor(/port (\d+) is taken/))[1]).toBe(String(port));
    const url = (await waitFor(/dashboard: (http:\/\/127\.0\.0\.1:\d+)\//))[1]!;
    expect(url).not.toBe(`http://127.0.0.1:${port}`);
    const page = await fetch(`${url}/`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>ratekeeper</title>');
    await waitFor(/\+\d+s offered \d+ · delivered [1-9]\d*/); // messages flow
    const quota = (await (await fetch(`${url}/v1/quota`)).json()) as { total: number };
    expect(quota.total).toBe(20);

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toMatch(/done: offered \d+, .* answered 429 0 times/);
    expect(out).not.toMatch(/429s received [1-9]/);
    // Nothing left listening: the service's port is closed.
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }, 90_000);
});
