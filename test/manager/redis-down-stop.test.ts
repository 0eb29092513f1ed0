import { afterEach, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { RateLimitManager } from '../../src/manager/index.js';
import { hasBinary, RedisServer } from '../helpers/redis.js';

const cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

const quiet = { warn() {}, error() {}, info() {} };

describe.skipIf(!hasBinary('redis-server'))('stopping while Redis does not answer', () => {
  for (const how of ['hung (SIGSTOP)', 'gone (SIGKILL)'] as const) {
    it(`stop({ timeout }) and close() return in bounded time when Redis is ${how}`, async () => {
      const server = await RedisServer.start();
      cleanups.push(() => server.stop());
      const backend = new RedisBackend({ url: server.url, prefix: 'rk-down-stop', logger: quiet });
      const manager = new RateLimitManager<string>({
        backend,
        capacity: 1000,
        duration: '1m',
        scopes: { 'chat:*': { limit: 1, window: '1m' } },
        logger: quiet,
        // One batch stays in the sender past the stop's timeout: stop() must not wait for it.
        sender: async (batch) => {
          if (batch[0]!.id === 'm0') await new Promise((resolve) => setTimeout(resolve, 8000));
        },
      });
      manager.on('error', () => {});
      cleanups.push(
        () => backend.close(),
        () => manager.stop({ timeout: 100 }),
      );
      await manager.start();
      // Work in every state: sent, queued behind a chat limit, waiting.
      for (let i = 0; i < 20; i++)
        await manager.sendOrEnqueue([{ id: `m${i}`, payload: 'x' }], 'normal', { scopes: `chat:${i % 3}` });
      if (how === 'hung (SIGSTOP)') server.pause();
      else await server.kill();
      const started = Date.now();
      await manager.stop({ timeout: 1000 });
      const stopped = Date.now() - started;
      await backend.close();
      const closed = Date.now() - started - stopped;
      // stop: its timeout plus a little; close: the QUIT waits at most commandTimeout (1 s), then 'end'.
      expect(stopped).toBeLessThan(1800);
      expect(closed).toBeLessThan(2300);
    }, 20_000);
  }
});
