import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory/index.js';
import { FakeClock, settle } from '../../../src/core/clock.js';
import { AbortError, InvalidArgumentError } from '../../../src/core/errors.js';
import { telegramScopes, telegramThrottler } from '../../../src/profiles/telegram/index.js';
import { fakeApi, invoke, T0, TOKEN, tooManyRequests } from './helpers.js';

const send = (chat: number | string, text: string) => ({ chat_id: chat, text });

function setup(options: { maxAttempts?: number; token?: string | null } = {}) {
  const clock = new FakeClock(T0);
  const backend = new MemoryBackend();
  const throttler = telegramThrottler({
    backend,
    clock,
    ...(options.token === null ? {} : { token: options.token ?? TOKEN }),
    ...(options.maxAttempts ? { maxAttempts: options.maxAttempts } : {}),
  });
  const api = fakeApi(clock);
  return { clock, backend, throttler, api };
}

describe('telegramThrottler: Telegram limits', () => {
  it('holds the 31st message of a second until the bot global window frees; none is refused', async () => {
    const { clock, throttler, api } = setup();
    const results = Array.from({ length: 31 }, (_, i) =>
      invoke(throttler, api.prev, 'sendMessage', send(1000 + i, `m${i}`)),
    );
    await settle();
    expect(api.sent()).toHaveLength(30);
    await clock.advance(999);
    expect(api.sent()).toHaveLength(30);
    await clock.advance(10);
    expect(api.sent()).toHaveLength(31);
    expect((await Promise.all(results)).every((r) => r.ok)).toBe(true);
    expect(api.sent()[30]!.at - T0).toBeGreaterThanOrEqual(1000);
    expect(api.refused()).toHaveLength(0);
  });

  it('sends one message per second to a chat, in the order the calls were made', async () => {
    const { clock, throttler, api } = setup();
    const results = ['a', 'b', 'c', 'd'].map((t) => invoke(throttler, api.prev, 'sendMessage', send(42, t)));
    const other = invoke(throttler, api.prev, 'sendMessage', send(43, 'x'));
    await settle();
    expect(api.sent(42).map((c) => c.text)).toEqual(['a']);
    expect(api.sent(43)).toHaveLength(1); // another chat does not wait behind chat 42
    for (let i = 0; i < 4; i++) await clock.advance(1_005);
    await Promise.all([...results, other]);
    const calls = api.sent(42);
    expect(calls.map((c) => c.text)).toEqual(['a', 'b', 'c', 'd']);
    for (let i = 1; i < calls.length; i++)
      expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(1000);
    expect(api.refused()).toHaveLength(0);
  });

  it('keeps a group to 20 messages in every minute (the 21st waits for the first to be a minute old)', async () => {
    const { clock, throttler, api } = setup();
    const results = Array.from({ length: 21 }, (_, i) =>
      invoke(throttler, api.prev, 'sendMessage', send(-1001234, `g${i}`)),
    );
    await clock.advance(30_000);
    expect(api.sent(-1001234)).toHaveLength(20);
    await clock.advance(29_000);
    expect(api.sent(-1001234)).toHaveLength(20);
    await clock.advance(1_500);
    await Promise.all(results);
    const calls = api.sent(-1001234);
    expect(calls.map((c) => c.text)).toEqual(Array.from({ length: 21 }, (_, i) => `g${i}`));
    expect(calls[20]!.at - calls[0]!.at).toBeGreaterThanOrEqual(60_000);
    expect(api.refused()).toHaveLength(0);
  });

  it('treats an @channel name as a group', async () => {
    const { clock, throttler, api } = setup();
    const results = Array.from({ length: 21 }, (_, i) =>
      invoke(throttler, api.prev, 'sendMessage', send('@MyChannel', `c${i}`)),
    );
    await clock.advance(59_000);
    expect(api.sent('@MyChannel')).toHaveLength(20);
    await clock.advance(1_500);
    await Promise.all(results);
    expect(api.refused()).toHaveLength(0);
  });

  it('lets calls without chat_id through at once, uncounted, even when the bot is at its limit', async () => {
    const { clock, throttler, api } = setup();
    for (let i = 0; i < 30; i++) void invoke(throttler, api.prev, 'sendMessage', send(2000 + i, 'x'));
    await clock.advance(900);
    const answer = await invoke(throttler, api.prev, 'getUpdates', { timeout: 30 });
    expect(answer).toEqual({ ok: true, result: true });
    const stats = await throttler.limiter.stats(telegramScopes(TOKEN, 1).bot);
    expect(stats[0]!.used).toBe(30);
  });

  it('learns the bot id with one getMe when no token is given', async () => {
    const { throttler, api } = setup({ token: null });
    await Promise.all([
      invoke(throttler, api.prev, 'sendMessage', send(1, 'a')),
      invoke(throttler, api.prev, 'sendMessage', send(2, 'b')),
    ]);
    expect(api.calls.filter((c) => c.method === 'getMe')).toHaveLength(1);
    const stats = await throttler.limiter.stats(telegramScopes(TOKEN, 1).bot);
    expect(stats[0]!.used).toBe(2);
  });

  it('one getMe serves every call waiting for it: aborting the first does not fail the others', async () => {
    const { clock, throttler, api } = setup({ token: null });
    const slow: typeof api.prev = async (method, payload, signal) => {
      if (method === 'getMe') await clock.sleep(100, signal);
      return api.prev(method, payload, signal);
    };
    const controller = new AbortController();
    const a = invoke(throttler, slow, 'sendMessage', send(1, 'a'), controller.signal);
    const b = invoke(throttler, slow, 'sendMessage', send(2, 'b'));
    await settle();
    controller.abort();
    await expect(a).rejects.toBeInstanceOf(AbortError);
    await clock.advance(100);
    expect((await b).ok).toBe(true);
    expect(api.calls.map((c) => c.method)).toEqual(['getMe', 'sendMessage']);
  });

  it("returns getMe's error answer for the call when the bot cannot be identified, and asks again next time", async () => {
    const { throttler, api } = setup({ token: null });
    const unauthorized = { ok: false as const, error_code: 401, description: 'Unauthorized' };
    let once = true;
    api.answerWith((method) => {
      if (method !== 'getMe' || !once) return undefined;
      once = false;
      return unauthorized;
    });
    expect(await invoke(throttler, api.prev, 'sendMessage', send(1, 'a'))).toEqual(unauthorized);
    expect((await invoke(throttler, api.prev, 'sendMessage', send(1, 'b'))).ok).toBe(true);
    expect(api.calls.map((c) => c.method)).toEqual(['getMe', 'getMe', 'sendMessage']);
  });
});

describe('telegramThrottler: 429 answers', () => {
  it('blocks the chat for retry_after, retries then, and keeps later calls to the chat behind the retry', async () => {
    const { clock, throttler, api } = setup();
    let first = true;
    api.answerWith((method) => {
      if (method === 'sendMessage' && first) {
        first = false;
        return tooManyRequests(35);
      }
      return undefined;
    });
    const a = invoke(throttler, api.prev, 'sendMessage', send(42, 'a'));
    const b = invoke(throttler, api.prev, 'sendMessage', send(42, 'b'));
    const other = invoke(throttler, api.prev, 'sendMessage', send(43, 'x'));
    await settle();
    expect(api.calls.map((c) => c.text)).toEqual(['a', 'x']);
    const [bot, chat] = await throttler.limiter.stats(telegramScopes(TOKEN, 42).scopes);
    expect(chat!.blockedMs).toBe(35_000);
    expect(bot!.blockedMs).toBe(0);
    expect((await other).ok).toBe(true);
    await clock.advance(34_999);
    expect(api.calls.map((c) => c.text)).toEqual(['a', 'x']);
    await clock.advance(1);
    expect((await a).ok).toBe(true);
    await clock.advance(1_005);
    expect((await b).ok).toBe(true);
    expect(api.sent(42).map((c) => [c.text, c.at - T0])).toEqual([
      ['a', 35_000],
      ['b', 36_005],
    ]);
  });

  it('gives up after maxAttempts calls and returns the last 429 answer', async () => {
    const { clock, throttler, api } = setup({ maxAttempts: 3 });
    api.answerWith(() => tooManyRequests(2));
    const result = invoke(throttler, api.prev, 'sendMessage', send(42, 'a'));
    await clock.advance(10_000);
    expect(await result).toEqual(tooManyRequests(2));
    expect(api.calls.map((c) => c.at - T0)).toEqual([0, 2_000, 4_000]);
  });

  it('reads "retry after N" from the description when parameters are missing', async () => {
    const { clock, throttler, api } = setup();
    let first = true;
    api.answerWith(() => {
      if (!first) return undefined;
      first = false;
      return { ok: false, error_code: 429, description: 'Too Many Requests: retry after 7' };
    });
    const result = invoke(throttler, api.prev, 'sendMessage', send(42, 'a'));
    await clock.advance(7_000);
    expect((await result).ok).toBe(true);
    expect(api.calls.map((c) => c.at - T0)).toEqual([0, 7_000]);
  });

  it('passes other errors through unchanged and does not retry them', async () => {
    const { throttler, api } = setup();
    const bad = { ok: false as const, error_code: 400, description: 'Bad Request: chat not found' };
    api.answerWith((_m, p) => (p.chat_id === 1 ? bad : undefined));
    expect(await invoke(throttler, api.prev, 'sendMessage', send(1, 'a'))).toBe(bad);
    const boom = new Error('socket hang up');
    const failing = async () => {
      throw boom;
    };
    await expect(invoke(throttler, failing, 'sendMessage', send(2, 'a'))).rejects.toBe(boom);
    expect(api.calls).toHaveLength(1);
  });

  it('a 429 seen by one throttler holds back another sharing the backend', async () => {
    const clock = new FakeClock(T0);
    const backend = new MemoryBackend();
    const one = telegramThrottler({ backend, clock, token: TOKEN });
    const two = telegramThrottler({ backend, clock, token: TOKEN });
    const api = fakeApi(clock);
    let first = true;
    api.answerWith(() => {
      if (!first) return undefined;
      first = false;
      return tooManyRequests(10);
    });
    const a = invoke(one, api.prev, 'sendMessage', send(42, 'a'));
    await settle();
    const b = invoke(two, api.prev, 'sendMessage', send(42, 'b'));
    await clock.advance(9_999);
    expect(api.calls.map((c) => c.text)).toEqual(['a']);
    await clock.advance(1);
    await clock.advance(1_005);
    await Promise.all([a, b]);
    expect(api.sent(42).map((c) => c.at - T0)).toEqual([10_000, 11_005]);
    expect(api.refused()).toHaveLength(1);
  });
});

describe('telegramThrottler: abort signals', () => {
  it('ends a wait at once with AbortError, charges nothing, and the chat line moves on', async () => {
    const { clock, throttler, api } = setup();
    const scopes = telegramScopes(TOKEN, 42);
    const a = invoke(throttler, api.prev, 'sendMessage', send(42, 'a'));
    const controller = new AbortController();
    const b = invoke(throttler, api.prev, 'sendMessage', send(42, 'b'), controller.signal);
    const c = invoke(throttler, api.prev, 'sendMessage', send(42, 'c'));
    await settle();
    controller.abort();
    await expect(b).rejects.toBeInstanceOf(AbortError);
    expect((await throttler.limiter.stats(scopes.chat))[0]!.used).toBe(1);
    await clock.advance(1_005);
    await Promise.all([a, c]);
    expect(api.sent(42).map((x) => x.text)).toEqual(['a', 'c']);
  });

  it('aborts a call waiting on the limiter (not only in line) without calling the API', async () => {
    const { clock, throttler, api } = setup();
    await invoke(throttler, api.prev, 'sendMessage', send(42, 'a'));
    const controller = new AbortController();
    const b = invoke(throttler, api.prev, 'sendMessage', send(42, 'b'), controller.signal);
    await settle();
    expect(clock.pending).toBeGreaterThan(0);
    controller.abort();
    await expect(b).rejects.toBeInstanceOf(AbortError);
    await clock.advance(5_000);
    expect(api.calls.map((x) => x.text)).toEqual(['a']);
  });

  it("rejects with AbortError carrying the caller's reason, also for a call waiting out a 429", async () => {
    const { throttler, api } = setup();
    await invoke(throttler, api.prev, 'sendMessage', send(42, 'a'));
    const controller = new AbortController();
    const waiting = invoke(throttler, api.prev, 'sendMessage', send(42, 'b'), controller.signal);
    api.answerWith((method) => (method === 'getUpdates' ? tooManyRequests(5) : undefined));
    const other = new AbortController();
    const polling = invoke(throttler, api.prev, 'getUpdates', {}, other.signal);
    await settle();
    const reason = new Error('shutting down');
    controller.abort(reason);
    other.abort(reason);
    for (const p of [waiting, polling]) {
      const error = await p.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AbortError);
      expect((error as AbortError).cause).toBe(reason);
    }
  });

  it('rejects at once when the signal is already aborted', async () => {
    const { throttler, api } = setup();
    await expect(
      invoke(throttler, api.prev, 'sendMessage', send(42, 'a'), AbortSignal.abort()),
    ).rejects.toBeInstanceOf(AbortError);
    expect(api.calls).toHaveLength(0);
  });
});

describe('telegramThrottler: options', () => {
  it('validates its options', () => {
    expect(() => telegramThrottler({ maxAttempts: 0 })).toThrow(InvalidArgumentError);
    expect(() => telegramThrottler({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => telegramThrottler({ token: '' })).toThrow(/token/);
    expect(() => telegramThrottler({ limits: { chat: { limit: -1, window: '1s' } } })).toThrow(
      /limits\.chat\.limit/,
    );
    expect(() => telegramThrottler({ limits: { perUser: { limit: 1, window: '1s' } } as never })).toThrow(
      /limits\.perUser/,
    );
  });

  it('applies overridden limits, spacing a chat evenly by window / limit', async () => {
    const clock = new FakeClock(T0);
    const throttler = telegramThrottler({
      clock,
      token: TOKEN,
      limits: { chat: { limit: 2, window: '1s' } },
    });
    const api = fakeApi(clock);
    api.answerWith((_m, p) => ({ ok: true, result: p.text }));
    const results = ['a', 'b', 'c'].map((t) => invoke(throttler, api.prev, 'sendMessage', send(5, t)));
    await clock.advance(2_000);
    await Promise.all(results);
    expect(api.calls.map((c) => c.at - T0)).toEqual([0, 500, 1_005]);
  });
});

describe('telegramThrottler: admission per bot', () => {
  it('holds a chat for one interval after the answer, so slow answers keep the spacing on arrival', async () => {
    const { clock, throttler, api } = setup();
    const slow: typeof api.prev = async (method, payload, signal) => {
      const answer = await api.prev(method, payload, signal);
      await clock.sleep(300); // the answer comes back 300 ms after the request arrived
      return answer;
    };
    const results = ['a', 'b'].map((t) => invoke(throttler, slow, 'sendMessage', send(42, t)));
    await clock.advance(5_000);
    await Promise.all(results);
    expect(api.sent(42).map((c) => c.at - T0)).toEqual([0, 1_300]);
  });

  it('gives the bot slots to ready chats in turn, and lets a chat blocked meanwhile step out of line', async () => {
    const { clock, backend, throttler, api } = setup();
    // 30 messages fill the bot's second; then chats 1, 2, 3 wait in the bot's line, in that order.
    for (let i = 0; i < 30; i++) void invoke(throttler, api.prev, 'sendMessage', send(5000 + i, 'fill'));
    await settle();
    const results = [1, 2, 3].map((chat) =>
      invoke(throttler, api.prev, 'sendMessage', send(chat, `to ${chat}`)),
    );
    await settle();
    // Another process sharing the backend blocks chat 1 for 5 s (it saw a 429 there).
    const other = telegramThrottler({ backend, clock, token: TOKEN });
    await other.limiter.block(telegramScopes(TOKEN, 1).chat, 5_000);
    await clock.advance(1_010);
    expect(
      api
        .sent()
        .slice(30)
        .map((c) => c.chat),
    ).toEqual(['2', '3']);
    await clock.advance(4_000);
    await Promise.all(results);
    expect(
      api
        .sent()
        .slice(30)
        .map((c) => [c.chat, c.at - T0]),
    ).toEqual([
      ['2', 1_005],
      ['3', 1_005],
      ['1', 5_000],
    ]);
  });
});
