/**
 * The load of grammy-load.test.ts on a fake clock: 5 bots, 3,000 messages, 100 chats (20 groups), 6 per chat
 * per bot. Without HTTP and the machine's load in the way, this pins how well the throttler schedules:
 * no message refused, order kept, and the last message within 10 % of the theoretical minimum (19 s).
 */
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory/index.js';
import { FakeClock } from '../../../src/core/clock.js';
import { telegramThrottler } from '../../../src/profiles/telegram/index.js';
import { FloodControl } from '../../fixtures/telegram-flood.js';
import { fakeApi, invoke, T0 } from './helpers.js';

describe('telegramThrottler scheduling (fake clock)', () => {
  it('3,000 messages from 5 bots to 100 chats: none refused, order kept, within 10 % of 19 s', async () => {
    const clock = new FakeClock(T0);
    const backend = new MemoryBackend();
    const flood = new FloodControl(clock.now);
    const chats = [
      ...Array.from({ length: 80 }, (_, i) => 1_000 + i),
      ...Array.from({ length: 20 }, (_, i) => -1_001_000 - i),
    ];
    const bots = Array.from({ length: 5 }, (_, b) => {
      const id = String(700 + b);
      return {
        throttler: telegramThrottler({ backend, clock, token: `${id}:secret` }),
        api: fakeApi(clock, flood, id),
      };
    });
    const calls: Array<Promise<unknown>> = [];
    for (let round = 0; round < 6; round++) {
      for (const chat of chats) {
        for (const { throttler, api } of bots) {
          calls.push(invoke(throttler, api.prev, 'sendMessage', { chat_id: chat, text: `${chat}#${round}` }));
        }
      }
    }
    let done = 0;
    for (const c of calls) void c.then(() => done++);
    while (done < calls.length && clock.now() - T0 < 60_000) await clock.advance(5);
    const sent = bots.flatMap((b) => b.api.sent());
    expect(sent).toHaveLength(3_000);
    expect(bots.flatMap((b) => b.api.refused())).toEqual([]);
    for (const { api } of bots) {
      for (const chat of chats) {
        expect(api.sent(chat).map((c) => c.text)).toEqual(
          Array.from({ length: 6 }, (_, r) => `${chat}#${r}`),
        );
      }
    }
    const lastMs = Math.max(...sent.map((c) => c.at)) - T0;
    console.log(`telegram schedule (fake clock): last of 3,000 messages at ${lastMs} ms; minimum 19000 ms`);
    expect(lastMs).toBeGreaterThanOrEqual(19_000);
    expect(lastMs).toBeLessThanOrEqual(19_000 * 1.1);
  }, 60_000);
});
