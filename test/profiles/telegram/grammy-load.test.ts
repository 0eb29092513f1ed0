/**
 * Real grammY bots over real HTTP against the fake Bot API that enforces Telegram's limits, on one clock
 * that the throttlers and the fake share (an AutoClock, test/fixtures/auto-clock.ts).
 *
 * The mix: 5 bots × 600 `sendMessage` = 3,000 calls to 100 chats (80 private, 20 groups), 6 messages per chat
 * per bot. Every chat, each group included, receives 30 messages: more than 20 in well under a minute, which
 * only works because Telegram's group limit is per bot (each bot sends 6 to each group). A single bot cannot
 * send a group a 21st message before a minute has passed, so a mix that needs it would make the theoretical
 * minimum a minute; this one keeps it at 19 s: per bot, 600 messages at 30 per second need 19 s after the
 * first (message k may go at floor(k / 30) s), and the 6 messages of a chat need 5 s at 1 per second.
 *
 * The clock stands still while a request is on its way (every call to the network goes through `hold`, a
 * transformer installed inside the throttler) and jumps to the next sleeper's time when nothing is in
 * flight. So the fake checks Telegram's limits at exactly the time the throttler let each message go, the
 * total time is what the throttler's waits add up to, and the run takes a few seconds of CPU however loaded
 * the machine is: the 10 % bound is asserted on every run. (On real time, the HTTP latency of a loaded
 * machine adds to the one-interval hold after each answer, 1.06–1.20× of the minimum: a statement about the
 * machine, not the throttler.)
 */
import { Bot, GrammyError } from 'grammy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory/index.js';
import { telegramThrottler } from '../../../src/profiles/telegram/index.js';
import { AutoClock } from '../../fixtures/auto-clock.js';
import { FakeTelegram } from '../../fixtures/fake-telegram.js';

const BOTS = 5;
const PER_CHAT = 6;
const PRIVATE = Array.from({ length: 80 }, (_, i) => 1_000 + i);
const GROUPS = Array.from({ length: 20 }, (_, i) => -1_001_000 - i);
const CHATS = [...PRIVATE, ...GROUPS];
const T0 = 1_700_000_040_000;
const clock = new AutoClock(T0);

type Call = (method: string, payload: object, signal?: AbortSignal) => Promise<unknown>;
/** Holds the clock while a call is on the network (installed first, it runs inside the throttler). */
const hold = ((prev: Call, method: string, payload: object, signal?: AbortSignal) =>
  clock.hold(() => prev(method, payload, signal))) as never;

/** Lower bound of the time from the first message of a bot to its last, given Telegram's limits. */
function theoreticalMinimumMs(perChat: ReadonlyMap<number, number>): number {
  const total = [...perChat.values()].reduce((a, b) => a + b, 0);
  let ms = Math.floor((total - 1) / 30) * 1_000;
  for (const [chat, n] of perChat) {
    ms = Math.max(ms, (n - 1) * 1_000);
    if (chat < 0) ms = Math.max(ms, Math.floor((n - 1) / 20) * 60_000);
  }
  return ms;
}

let server: FakeTelegram;
beforeAll(async () => {
  server = await FakeTelegram.start({ now: clock.now });
});
afterAll(async () => {
  await server.close();
});

describe('telegramThrottler with grammY against the fake Bot API (one shared clock)', () => {
  it('delivers 3,000 messages from 5 bots to 100 chats: no 429, order kept, within 10 % of the minimum', async () => {
    const backend = new MemoryBackend();
    const bots = Array.from({ length: BOTS }, (_, b) => {
      const token = `${700 + b}:secret-token-${b}`;
      const bot = new Bot(token, { client: { apiRoot: server.apiRoot } });
      bot.api.config.use(hold);
      // Three bots name themselves with their token, two learn who they are with getMe.
      bot.api.config.use(telegramThrottler(b < 3 ? { backend, clock, token } : { backend, clock }));
      return { id: String(700 + b), bot };
    });
    const minimumMs = theoreticalMinimumMs(new Map(CHATS.map((c) => [c, PER_CHAT])));
    expect(minimumMs).toBe(19_000);

    let refusedAtClient = 0;
    const started = clock.now();
    const calls: Array<Promise<unknown>> = [];
    for (let round = 0; round < PER_CHAT; round++) {
      for (const chat of CHATS) {
        for (const { bot } of bots) {
          calls.push(
            bot.api.sendMessage(chat, `${chat}#${round}`).catch((error: unknown) => {
              if (error instanceof GrammyError && error.error_code === 429) refusedAtClient++;
              throw error;
            }),
          );
        }
      }
    }
    const real = performance.now();
    await clock.drive(Promise.all(calls));
    const elapsedMs = clock.now() - started;

    console.log(
      `telegram load: ${calls.length} messages in ${(elapsedMs / 1000).toFixed(2)} s; theoretical minimum ` +
        `${(minimumMs / 1000).toFixed(2)} s; ratio ${(elapsedMs / minimumMs).toFixed(3)} (bound 1.1); ` +
        `429s at the server ${server.refused.length}, at the client ${refusedAtClient}; peaks per window: ` +
        `${server.flood.peak.global}/s per bot, ${server.flood.peak.chat}/s per chat, ` +
        `${server.flood.peak.group}/min per group; ${((performance.now() - real) / 1000).toFixed(1)} s of real time`,
    );
    expect(server.refused).toEqual([]);
    expect(refusedAtClient).toBe(0);
    expect(server.delivered).toHaveLength(BOTS * CHATS.length * PER_CHAT);
    for (const { id } of bots) {
      for (const chat of CHATS) {
        expect(server.texts(id, chat)).toEqual(Array.from({ length: PER_CHAT }, (_, r) => `${chat}#${r}`));
      }
    }
    expect(server.delivered.filter((d) => d.chat === String(GROUPS[0])).length).toBeGreaterThan(20);
    expect(elapsedMs).toBeGreaterThanOrEqual(minimumMs);
    expect(elapsedMs).toBeLessThanOrEqual(minimumMs * 1.1);
  }, 90_000);
});
