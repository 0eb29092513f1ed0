import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../../src/backends/memory/index.js';
import { FakeClock, settle } from '../../../src/core/clock.js';
import { InvalidArgumentError } from '../../../src/core/errors.js';
import { RateLimiter } from '../../../src/limiter/rate-limiter.js';
import { RateLimitManager } from '../../../src/manager/manager.js';
import {
  botKey,
  chatKey,
  isGroupChat,
  TELEGRAM_LIMITS,
  telegramRules,
  telegramScopes,
} from '../../../src/profiles/telegram/index.js';
import { T0, TOKEN } from './helpers.js';

describe('telegramScopes', () => {
  it('names the bot by its id, never by its secret', () => {
    expect(botKey(TOKEN)).toBe('123456');
    const s = telegramScopes(TOKEN, 42);
    expect(s.scopes).toEqual(['telegram:bot:123456', 'telegram:chat:123456:42']);
    expect(JSON.stringify(s)).not.toContain('super-secret');
  });

  it('hashes a token without an id (16 hex digits of its SHA-256), stable and distinct', () => {
    const a = botKey('not-a-standard-token');
    expect(a).toMatch(/^h[0-9a-f]{16}$/);
    expect(botKey('not-a-standard-token')).toBe(a);
    expect(botKey('another-token')).not.toBe(a);
    expect(JSON.stringify(telegramScopes('not-a-standard-token', 1))).not.toContain('standard');
  });

  it('adds the group scope for negative ids and @names, not for private chats', () => {
    expect(telegramScopes(TOKEN, -1001234).scopes).toEqual([
      'telegram:bot:123456',
      'telegram:chat:123456:-1001234',
      'telegram:group:123456:-1001234',
    ]);
    expect(telegramScopes(TOKEN, '@MyChannel').group).toBe('telegram:group:123456:@mychannel');
    expect(telegramScopes(TOKEN, 7).group).toBeUndefined();
    expect([isGroupChat(-5), isGroupChat('@x'), isGroupChat(5), isGroupChat('5')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it('gives one key to one chat however its id is written', () => {
    expect(chatKey('-1001234')).toBe('-1001234');
    expect(chatKey(-1001234)).toBe('-1001234');
    expect(chatKey(' 42 ')).toBe('42');
    expect(chatKey('@Chan')).toBe('@chan');
  });

  it('refuses what is not a token or a chat id, naming the field', () => {
    expect(() => botKey('')).toThrow(InvalidArgumentError);
    expect(() => telegramScopes(TOKEN, 1.5)).toThrow(/chatId/);
    expect(() => telegramScopes(TOKEN, 'chat')).toThrow(/chatId/);
    expect(() => telegramScopes(TOKEN, {} as never)).toThrow(/chatId/);
  });

  it("carries Telegram's limits as rules by scope pattern", () => {
    expect(telegramRules()).toEqual({
      'telegram:bot:*': TELEGRAM_LIMITS.global,
      'telegram:chat:*': TELEGRAM_LIMITS.chat,
      'telegram:group:*': TELEGRAM_LIMITS.group,
    });
    expect(TELEGRAM_LIMITS).toMatchObject({
      global: { limit: 30, window: '1s' },
      chat: { limit: 1, window: '1s' },
      group: { limit: 20, window: '1m' },
    });
  });
});

describe('telegramRules with a RateLimiter', () => {
  it('admits 20 messages to a group per sliding minute and 1 per second', async () => {
    const clock = new FakeClock(T0);
    const limiter = new RateLimiter({ clock, backend: new MemoryBackend(), scopes: telegramRules() });
    const { scopes } = telegramScopes(TOKEN, -100);
    for (let i = 0; i < 20; i++) {
      expect((await limiter.tryAcquire({ scopes })).allowed).toBe(true);
      const refused = await limiter.tryAcquire({ scopes });
      // Refused by the chat's 1/s; after the 20th, by the group's minute (the longer wait).
      expect(refused.blockedBy?.rule).toBe(i < 19 ? 'telegram-chat' : 'telegram-group');
      clock.set(clock.now() + 1_005);
    }
    const d = await limiter.tryAcquire({ scopes });
    expect(d).toMatchObject({ allowed: false, blockedBy: { rule: 'telegram-group' } });
    // The first of the 20 went at T0: the 21st may go once it is a minute old (sub-window rounding: ≤ 5 ms).
    expect(clock.now() + d.retryAfterMs - T0).toBeGreaterThanOrEqual(60_000);
    expect(clock.now() + d.retryAfterMs - T0).toBeLessThanOrEqual(60_300);
  });
});

describe('telegramScopes with a RateLimitManager', () => {
  it('delivers per chat at 1/s and per group at 20/min, other chats flowing meanwhile', async () => {
    const clock = new FakeClock(T0);
    const delivered: Array<{ id: string; at: number }> = [];
    const manager = new RateLimitManager<{ chatId: number; text: string }>({
      capacity: 1_000,
      duration: '1m',
      maxBatchFraction: 1,
      lowQuotaThreshold: 0,
      sleep: '50ms',
      clock,
      backend: new MemoryBackend(),
      scopes: telegramRules(),
      sender: async (batch) => {
        for (const m of batch) delivered.push({ id: m.id, at: clock.now() - T0 });
      },
    });
    await manager.start();
    const msg = (id: string, chatId: number) => ({
      id,
      payload: { chatId, text: id },
      scopes: telegramScopes(TOKEN, chatId).scopes,
    });
    for (let i = 0; i < 3; i++) await manager.sendOrEnqueue([msg(`p${i}`, 42)], 'normal');
    for (let i = 0; i < 22; i++) await manager.sendOrEnqueue([msg(`g${i}`, -100)], 'normal');
    await manager.sendOrEnqueue([msg('other', 43)], 'normal');
    for (let t = 0; t < 130_000; t += 50) await clock.advance(50);
    await settle();
    await manager.stop();
    const times = (prefix: string) => delivered.filter((d) => d.id.startsWith(prefix)).map((d) => d.at);
    expect(delivered.map((d) => d.id).filter((id) => id.startsWith('p'))).toEqual(['p0', 'p1', 'p2']);
    const p = times('p');
    for (let i = 1; i < p.length; i++) expect(p[i]! - p[i - 1]!).toBeGreaterThanOrEqual(1_000);
    const g = times('g');
    expect(g).toHaveLength(22);
    for (let i = 20; i < g.length; i++) expect(g[i]! - g[i - 20]!).toBeGreaterThanOrEqual(60_000);
    expect(times('other')[0]).toBeLessThan(1_000);
  });
});
