/**
 * The fake Bot API itself: it must refuse what Telegram refuses, or the throttler tests prove nothing.
 * Its flood control reads a fake clock; requests are real HTTP from grammY.
 */
import { Bot, GrammyError } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/core/clock.js';
import { FakeTelegram } from '../../fixtures/fake-telegram.js';
import { T0 } from './helpers.js';

let server: FakeTelegram | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start() {
  const clock = new FakeClock(T0);
  server = await FakeTelegram.start({ now: clock.now });
  const bot = (id: number) => new Bot(`${id}:secret-${id}`, { client: { apiRoot: server!.apiRoot } });
  return { clock, server, bot };
}

async function outcome(p: Promise<unknown>): Promise<'ok' | number> {
  try {
    await p;
    return 'ok';
  } catch (error) {
    if (error instanceof GrammyError && error.error_code === 429) return error.parameters.retry_after ?? -1;
    throw error;
  }
}

describe('fake Telegram Bot API', () => {
  it('refuses the 31st message of a bot within a second with a 429 and retry_after; other bots are apart', async () => {
    const { server, bot } = await start();
    const one = bot(1);
    const results = await Promise.all(
      Array.from({ length: 31 }, (_, i) => outcome(one.api.sendMessage(100 + i, 'hi'))),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(30);
    expect(results.filter((r) => r === 1)).toHaveLength(1);
    expect(await outcome(bot(2).api.sendMessage(100, 'hi'))).toBe('ok');
    expect(server.refused).toHaveLength(1);
    expect(server.refused[0]).toMatchObject({ bot: '1', broke: 'global', retryAfter: 1 });
  });

  it('refuses a second message to a chat within a second, and answers in Telegram’s shape', async () => {
    const { clock, server, bot } = await start();
    const one = bot(1);
    expect(await outcome(one.api.sendMessage(7, 'a'))).toBe('ok');
    const raw = await fetch(`${server.apiRoot}/bot1:secret-1/sendMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chat_id: 7, text: 'b' }),
    });
    expect(raw.status).toBe(429);
    expect(await raw.json()).toEqual({
      ok: false,
      error_code: 429,
      description: 'Too Many Requests: retry after 1',
      parameters: { retry_after: 1 },
    });
    clock.set(T0 + 1_000);
    expect(await outcome(one.api.sendMessage(7, 'c'))).toBe('ok');
    expect(server.texts('1', 7)).toEqual(['a', 'c']);
  });

  it('refuses the 21st message to a group within a minute, with the seconds left', async () => {
    const { clock, server, bot } = await start();
    const one = bot(1);
    for (let i = 0; i < 20; i++) {
      expect(await outcome(one.api.sendMessage(-100, `g${i}`))).toBe('ok');
      clock.set(clock.now() + 1_000);
    }
    // Now T0 + 20 s: the first message leaves the minute at T0 + 60 s.
    expect(await outcome(one.api.sendMessage(-100, 'g20'))).toBe(40);
    expect(server.refused[0]).toMatchObject({ broke: 'group', retryAfter: 40 });
    clock.set(T0 + 60_000);
    expect(await outcome(one.api.sendMessage(-100, 'g20'))).toBe('ok');
  });

  it('floods a naive sender: 50 messages to 10 chats at once get 40 refusals', async () => {
    const { server, bot } = await start();
    const one = bot(1);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => outcome(one.api.sendMessage(i % 10, `m${i}`))),
    );
    expect(results.filter((r) => r !== 'ok')).toHaveLength(40);
    expect(server.delivered).toHaveLength(10);
  });
});
