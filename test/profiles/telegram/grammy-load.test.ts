/**
 * Real grammY bots, real HTTP, real time, against the fake Bot API that enforces Telegram's limits.
 *
 * The mix: 5 bots × 600 `sendMessage` = 3,000 calls to 100 chats (80 private, 20 groups), 6 messages per chat
 * per bot. Every chat, each group included, receives 30 messages: more than 20 in well under a minute, which
 * only works because Telegram's group limit is per bot (each bot sends 6 to each group). A single bot cannot
 * send a group a 21st message before a minute has passed, so a mix that needs it would make the theoretical
 * minimum a minute; this one keeps it at 19 s: per bot, 600 messages at 30 per second need 19 s after the
 * first (message k may go at floor(k / 30) s), and the 6 messages of a chat need 5 s at 1 per second.
 *
 * The fake server checks Telegram's exact limits on the time each request left the throttler (a payload
 * field set by a transformer installed inside the throttler; see FakeTelegramOptions.sentAtField), not on
 * when its handler ran: on this shared machine a request can wait hundreds of ms between the two, which
 * says nothing about the throttler. Both the throttler and the stamp read one clock that reads the wall
 * clock once per event-loop turn (`turnClock`), so a stamp is exactly the time the throttler decided with:
 * the decision and the stamp run in one turn, however long the process waits for the CPU in between.
 *
 * The time bound is a claim about the throttler only when the process had the CPU: when the event loop was
 * starved (p99 delay over 50 ms: other work on the machine) the times are printed and the bound is not
 * asserted, with a loud warning.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Bot, GrammyError } from 'grammy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory/index.js';
import { type Clock, systemClock } from '../../../src/core/clock.js';
import { telegramThrottler } from '../../../src/profiles/telegram/index.js';
import { FakeTelegram } from '../../fixtures/fake-telegram.js';

const BOTS = 5;
const PER_CHAT = 6;
const PRIVATE = Array.from({ length: 80 }, (_, i) => 1_000 + i);
const GROUPS = Array.from({ length: 20 }, (_, i) => -1_001_000 - i);
const CHATS = [...PRIVATE, ...GROUPS];
const SENT_AT = 'sent_at_ms';
const STARVED_P99_MS = 50;

/** The wall clock, read once per event-loop turn. */
let turnNow: number | undefined;
const turnClock: Clock = {
  now() {
    if (turnNow === undefined) {
      turnNow = Date.now();
      setImmediate(() => {
        turnNow = undefined;
      });
    }
    return turnNow;
  },
  sleep: systemClock.sleep,
};

type Call = (method: string, payload: object, signal?: AbortSignal) => Promise<unknown>;
/** Stamps each call with the time it leaves the throttler (installed first, it runs after it). */
const stamp = ((prev: Call, method: string, payload: object, signal?: AbortSignal) =>
  prev(method, { ...payload, [SENT_AT]: turnClock.now() }, signal)) as never;

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
  server = await FakeTelegram.start({ sentAtField: SENT_AT });
});
afterAll(async () => {
  await server.close();
});

describe('telegramThrottler with grammY against the fake Bot API (real time)', () => {
  it('delivers 3,000 messages from 5 bots to 100 chats: no 429, order kept, within 10 % of the minimum', async () => {
    const backend = new MemoryBackend();
    const bots = Array.from({ length: BOTS }, (_, b) => {
      const token = `${700 + b}:secret-token-${b}`;
      const bot = new Bot(token, { client: { apiRoot: server.apiRoot } });
      bot.api.config.use(stamp);
      // Three bots name themselves with their token, two learn who they are with getMe.
      const clock = turnClock;
      bot.api.config.use(telegramThrottler(b < 3 ? { backend, clock, token } : { backend, clock }));
      return { id: String(700 + b), bot };
    });
    const minimumMs = theoreticalMinimumMs(new Map(CHATS.map((c) => [c, PER_CHAT])));
    expect(minimumMs).toBe(19_000);

    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    let refusedAtClient = 0;
    const started = performance.now();
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
    await Promise.all(calls);
    const elapsedMs = performance.now() - started;
    lag.disable();
    const p99 = lag.percentile(99) / 1e6;

    console.log(
      `telegram load: ${calls.length} messages in ${(elapsedMs / 1000).toFixed(2)} s; theoretical minimum ` +
        `${(minimumMs / 1000).toFixed(2)} s; ratio ${(elapsedMs / minimumMs).toFixed(3)} (bound 1.1); ` +
        `429s at the server ${server.refused.length}, at the client ${refusedAtClient}; peaks per window: ` +
        `${server.flood.peak.global}/s per bot, ${server.flood.peak.chat}/s per chat, ` +
        `${server.flood.peak.group}/min per group; event loop delay p99 ${p99.toFixed(0)} ms, ` +
        `max ${(lag.max / 1e6).toFixed(0)} ms`,
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
    if (p99 <= STARVED_P99_MS) {
      expect(elapsedMs).toBeLessThanOrEqual(minimumMs * 1.1);
    } else {
      console.warn(
        `\n!!! telegram load: the event loop was starved (p99 delay ${p99.toFixed(0)} ms > ${STARVED_P99_MS} ms: ` +
          `other work on this machine); the 10 % time bound is not asserted on this run\n`,
      );
    }
  }, 90_000);
});
