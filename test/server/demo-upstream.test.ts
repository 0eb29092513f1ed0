import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { DemoUpstream, type DemoUpstreamOptions } from '../../src/server/demo-upstream.js';

const T0 = 1_700_000_000_000;
const open: DemoUpstream[] = [];

async function upstream(options: Omit<DemoUpstreamOptions, 'clock'> = {}) {
  const clock = new FakeClock(T0);
  const server = new DemoUpstream({ ...options, clock });
  open.push(server);
  const url = await server.listen();
  const post = async (body: unknown) => {
    const response = await fetch(`${url}/deliver`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return {
      status: response.status,
      retryAfter: response.headers.get('retry-after'),
      body: await response.json(),
    };
  };
  return { clock, server, url, post };
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((server) => server.close()));
});

describe('DemoUpstream', () => {
  it('admits one message per chat per window, sliding, and answers 429 with Retry-After like Telegram', async () => {
    const { clock, server, post } = await upstream({ perChat: { limit: 1, window: '1s' } });
    expect((await post({ chat_id: 7, id: 'a' })).status).toBe(200);
    await clock.advance(400);
    const refused = await post({ chat_id: 7, id: 'b' });
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).toBe('1'); // 600 ms left, rounded up to whole seconds
    expect(refused.body).toEqual({
      ok: false,
      error_code: 429,
      description: 'Too Many Requests: retry after 1',
      parameters: { retry_after: 1 },
    });
    expect((await post({ chat_id: 8, id: 'c' })).status).toBe(200); // another chat is not held back
    await clock.advance(599);
    expect((await post({ chat_id: 7, id: 'b' })).status).toBe(429); // 1 ms before the first one ages out
    await clock.advance(1);
    expect((await post({ chat_id: 7, id: 'b' })).status).toBe(200);
    expect(server.stats()).toMatchObject({
      delivered: 3,
      tooManyRequests: 2,
      tooManyForChat: 2,
      duplicates: 0,
      badRequests: 0,
    });
  });

  it('holds a global limit over all chats; refused requests are not charged', async () => {
    const { clock, server, post } = await upstream({
      global: { limit: 3, window: '1s' },
      perChat: { limit: 100, window: '1s' },
    });
    for (const chat of [1, 2, 3]) expect((await post({ chat_id: chat })).status).toBe(200);
    await clock.advance(500);
    const refused = await post({ chat_id: 4 });
    expect(refused.status).toBe(429);
    expect(refused.retryAfter).toBe('1');
    await clock.advance(500); // the first three age out together; the refused one never counted
    for (const chat of [4, 5, 6]) expect((await post({ chat_id: chat })).status).toBe(200);
    expect((await post({ chat_id: 7 })).status).toBe(429);
    expect(server.stats()).toMatchObject({ delivered: 6, tooManyRequests: 2, tooManyForChat: 0 });
  });

  it('a refused per-chat request charges neither the chat nor the global limit', async () => {
    const { server, post } = await upstream({
      global: { limit: 2, window: '1s' },
      perChat: { limit: 1, window: '1s' },
    });
    expect((await post({ chat_id: 1 })).status).toBe(200);
    expect((await post({ chat_id: 1 })).status).toBe(429); // chat limit
    expect((await post({ chat_id: 2 })).status).toBe(200); // the global limit still had room for it
    expect((await post({ chat_id: 3 })).status).toBe(429); // now the global one is full
    expect(server.stats()).toMatchObject({ delivered: 2, tooManyRequests: 2, tooManyForChat: 1 });
  });

  it('counts a message id delivered twice as a duplicate, and rejects what is not a JSON object', async () => {
    const { clock, server, post } = await upstream();
    expect((await post({ chat_id: 1, id: 'm1' })).status).toBe(200);
    await clock.advance(1_000);
    expect((await post({ chat_id: 1, id: 'm1' })).status).toBe(200);
    expect((await post('not json')).status).toBe(400);
    expect((await post([1, 2])).status).toBe(400);
    expect(server.stats()).toMatchObject({ delivered: 2, duplicates: 1, badRequests: 2 });
    expect(server.delivered('m1')).toBe(2);
    expect(server.delivered('m2')).toBe(0);
  });

  it('serves its counters at GET /stats and 404 elsewhere', async () => {
    const { url, post } = await upstream();
    await post({ chat_id: 1, id: 'x' });
    await post({ chat_id: 1, id: 'y' });
    const stats = await (await fetch(`${url}/stats`)).json();
    expect(stats).toMatchObject({ delivered: 1, tooManyRequests: 1, duplicates: 0 });
    expect((await fetch(`${url}/nope`)).status).toBe(404);
  });

  it('forgets chats whose window has passed, so memory stays bounded', async () => {
    const { clock, server, post } = await upstream({
      global: { limit: 100, window: '1s' },
      perChat: { limit: 1, window: '1s' },
    });
    for (let chat = 0; chat < 50; chat++) await post({ chat_id: chat });
    expect(server.stats().chats).toBe(50);
    await clock.advance(1_000);
    await post({ chat_id: 'fresh' });
    expect(server.stats().chats).toBe(1);
  });

  it('validates its options, naming the field', () => {
    expect(() => new DemoUpstream({ perChat: { limit: 0, window: '1s' } })).toThrow(InvalidArgumentError);
    expect(() => new DemoUpstream({ perChat: { limit: 0, window: '1s' } })).toThrow(/perChat\.limit/);
    expect(() => new DemoUpstream({ global: { limit: 5, window: 'soon' as '1s' } })).toThrow(
      /global\.window/,
    );
    expect(() => new DemoUpstream({ port: -1 })).toThrow(/port/);
  });
});
