/**
 * A 429 from the fake Bot API, seen by one throttler, holds back a second throttler of the same bot on the
 * same SQLite file or the same Redis prefix (two processes of one bot, in effect): the second never sends
 * to the chat before `retry_after` has passed. Real grammY bots and real HTTP; the flood control and the
 * throttlers read one fake clock.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bot } from 'grammy';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../../src/backends/redis/index.js';
import { SqliteBackend } from '../../../src/backends/sqlite/index.js';
import type { Backend } from '../../../src/backends/types.js';
import { FakeClock } from '../../../src/core/clock.js';
import { telegramScopes, telegramThrottler } from '../../../src/profiles/telegram/index.js';
import { FakeTelegram } from '../../fixtures/fake-telegram.js';
import { deletePrefix, REDIS_URL, skipRedis, uniquePrefix, waitFor } from '../../helpers/redis.js';
import { T0 } from './helpers.js';

const TOKEN = '4242:shared-secret';
const GROUP = -100_777;

interface Case {
  name: string;
  skip: boolean;
  /** Two backends on one store, and a cleanup. */
  open(): Promise<{ one: Backend; two: Backend; cleanup(): Promise<void> }>;
}

const cases: Case[] = [
  {
    name: 'SQLite file',
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'rk-telegram-'));
      const path = join(dir, 'rk.db');
      const one = new SqliteBackend({ path });
      const two = new SqliteBackend({ path });
      return {
        one,
        two,
        async cleanup() {
          await one.close();
          await two.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'Redis',
    skip: await skipRedis('Telegram shared-block test on Redis'),
    async open() {
      const prefix = uniquePrefix('telegram');
      const one = new RedisBackend({ url: REDIS_URL, prefix });
      const two = new RedisBackend({ url: REDIS_URL, prefix });
      return {
        one,
        two,
        async cleanup() {
          await one.close();
          await two.close();
          const admin = new Redis(REDIS_URL);
          await deletePrefix(admin, prefix);
          admin.disconnect();
        },
      };
    },
  },
];

let close: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of close.reverse()) await c();
  close = [];
});

describe.each(cases)('a 429 blocks the chat for every throttler on one $name', (c) => {
  it.skipIf(c.skip)(
    'the second throttler waits out retry_after the first was told',
    async () => {
      const clock = new FakeClock(T0);
      const server = await FakeTelegram.start({ now: clock.now });
      close.push(() => server.close());
      const { one, two, cleanup } = await c.open();
      close.push(cleanup);
      const bot = (backend: Backend) => {
        const b = new Bot(TOKEN, { client: { apiRoot: server.apiRoot } });
        b.api.config.use(telegramThrottler({ backend, clock, token: TOKEN }));
        return b;
      };
      const first = bot(one);
      const second = bot(two);

      // Something that ignores the limits (an old deployment) fills the group's minute at Telegram.
      const rogue = new Bot(TOKEN, { client: { apiRoot: server.apiRoot } });
      for (let i = 0; i < 20; i++) {
        await rogue.api.sendMessage(GROUP, `rogue ${i}`);
        clock.set(clock.now() + 1_000);
      }
      // T0 + 20 s: the first throttler's message is refused with retry_after 40 and blocks the chat.
      const a = first.api.sendMessage(GROUP, 'first');
      await waitFor(() => server.refused.length === 1, 10_000, 'the 429');
      expect(server.refused[0]).toMatchObject({ text: 'first', retryAfter: 40, broke: 'group' });
      const chat = telegramScopes(TOKEN, GROUP).chat;
      await waitFor(
        async () => (await blockedMs(two, chat, clock)) > 0,
        10_000,
        'the block in the shared store',
      );
      expect(await blockedMs(two, chat, clock)).toBe(40_000);

      // The second throttler, on its own connection to the store, holds its message back until then.
      const b = second.api.sendMessage(GROUP, 'second');
      await waitFor(() => clock.pending >= 2, 10_000, 'both throttlers waiting');
      await clock.advance(39_990);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(server.delivered.map((d) => d.text).filter((t) => !t.startsWith('rogue'))).toEqual([]);
      expect(server.requests.filter((r) => r.endsWith('sendMessage'))).toHaveLength(21);

      // Then both go, a second apart (the chat's 1/s), and Telegram accepts both.
      const settled = Promise.allSettled([a, b]);
      let done = false;
      void settled.then(() => {
        done = true;
      });
      for (let i = 0; i < 3_000 && !done; i++) {
        await clock.advance(10);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const results = await settled;
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      const ours = server.delivered.filter((d) => !d.text.startsWith('rogue'));
      expect(ours.map((d) => d.text).sort()).toEqual(['first', 'second']);
      for (const d of ours) expect(d.at - T0).toBeGreaterThanOrEqual(60_000);
      expect(Math.abs(ours[1]!.at - ours[0]!.at)).toBeGreaterThanOrEqual(1_000);
      expect(server.refused).toHaveLength(1);
    },
    60_000,
  );
});

/** How long the scope is still blocked, as a limiter on `backend` sees it. */
async function blockedMs(backend: Backend, scope: string, clock: FakeClock): Promise<number> {
  const probe = telegramThrottler({ backend, clock, token: TOKEN });
  const stats = await probe.limiter.stats(scope);
  return stats[0]?.blockedMs ?? 0;
}
