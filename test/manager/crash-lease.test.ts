/**
 * Crash recovery with default options: a process SIGKILLed while its sender holds a batch; another
 * process redelivers it within 10 s (the lease is short and renewed while the sender works).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import type { Backend } from '../../src/backends/types.js';
import { RateLimitManager } from '../../src/manager/manager.js';
import { deletePrefix, REDIS_URL, skipRedis, uniquePrefix } from '../helpers/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'rk-crash-lease-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the hanging process and resolves once its sender holds the message. */
async function startAndKill(where: string, prefix: string, id: string): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/fixtures/manager-hang.ts', where, prefix, id],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes(`SENDING ${id}`)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the child exited early (${code})`)));
  });
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  return Date.now();
}

/** A manager with default options; resolves with the time its sender got `id`. */
async function redeliveredAt(backend: Backend, id: string): Promise<number> {
  let resolveAt!: (t: number) => void;
  const at = new Promise<number>((r) => {
    resolveAt = r;
  });
  const manager = new RateLimitManager<string>({
    backend,
    capacity: 100,
    duration: '1m',
    sender: async (batch) => {
      if (batch.some((m) => m.id === id)) resolveAt(Date.now());
    },
  });
  await manager.start();
  const timeout = new Promise<number>((_, reject) =>
    setTimeout(() => reject(new Error('not redelivered within 20 s')), 20_000),
  );
  try {
    return await Promise.race([at, timeout]);
  } finally {
    await manager.stop({ timeout: '5s' });
  }
}

describe('a SIGKILLed sender is redelivered within 10 s with default options', () => {
  it('SQLite', async () => {
    const db = join(dir, 'crash.db');
    const killedAt = await startAndKill(`sqlite:${db}`, '', 'crash-sqlite');
    const backend = new SqliteBackend({ path: db });
    const at = await redeliveredAt(backend, 'crash-sqlite');
    await backend.close();
    console.log(`SQLite: redelivered ${at - killedAt} ms after SIGKILL`);
    expect(at - killedAt).toBeLessThan(10_000);
  }, 40_000);

  it('Redis', async () => {
    if (await skipRedis('crash-lease')) return;
    const prefix = uniquePrefix('crash');
    const killedAt = await startAndKill(REDIS_URL, prefix, 'crash-redis');
    const backend = new RedisBackend({ url: REDIS_URL, prefix });
    try {
      const at = await redeliveredAt(backend, 'crash-redis');
      console.log(`Redis: redelivered ${at - killedAt} ms after SIGKILL`);
      expect(at - killedAt).toBeLessThan(10_000);
    } finally {
      await backend.close();
      const client = new Redis(REDIS_URL);
      await deletePrefix(client, prefix);
      client.disconnect();
    }
  }, 40_000);
});
