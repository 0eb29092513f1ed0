import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../core/errors.js';
import { SCOPE_PREFIX, type TelegramRules, telegramRules } from './limits.js';

/** A chat as the Bot API names it: a numeric id or an `@username` (of a channel or supergroup). */
export type ChatId = number | string;

/** The limiter scopes of one bot and chat. */
export interface TelegramScopes {
  /** What a message to the chat passes through: `[bot, chat]`, plus `group` for groups and channels. */
  scopes: readonly string[];
  /** The bot's scope (all its chats: 30/s). */
  bot: string;
  /** The chat's scope (1/s); blocked after a 429 on a call to this chat. */
  chat: string;
  /** The group's scope (20 per minute), for a negative chat id or an `@channel` name. */
  group?: string;
  /** The rules of every Telegram scope, by pattern (Telegram's limits): see {@link telegramRules}. */
  rules: TelegramRules;
}

const TOKEN_WITH_ID = /^(\d{1,20}):[\w-]+$/;

/**
 * The part of a bot token that may appear in scope keys, logs and metrics: the bot's id (the digits before
 * `:`, which Telegram makes public as the bot's user id), or `h` + 16 hex digits of the token's SHA-256 when
 * the token has no id. Never the secret itself.
 * @example botKey('123456:AAH-secret') // '123456'
 */
export function botKey(token: string): string {
  if (typeof token !== 'string' || token.length === 0) {
    throw new InvalidArgumentError('token', 'a bot token string like "123456:AA…"', token);
  }
  const match = TOKEN_WITH_ID.exec(token);
  if (match) return match[1]!;
  return `h${createHash('sha256').update(token).digest('hex').slice(0, 16)}`;
}

/**
 * A chat id in its canonical form for scope keys: integers as decimal (`-1001234`, also from numeric strings),
 * usernames lower-cased with their `@`.
 */
export function chatKey(chatId: ChatId, field = 'chatId'): string {
  if (typeof chatId === 'number') {
    if (Number.isSafeInteger(chatId)) return String(chatId);
  } else if (typeof chatId === 'string') {
    const trimmed = chatId.trim();
    if (/^-?\d{1,20}$/.test(trimmed)) return String(BigInt(trimmed));
    if (/^@\w{1,64}$/.test(trimmed)) return trimmed.toLowerCase();
  }
  throw new InvalidArgumentError(field, 'an integer chat id or an "@username"', chatId);
}

/** Whether Telegram's group limit applies: a negative chat id (groups, supergroups, channels) or an `@name`. */
export function isGroupChat(chatId: ChatId): boolean {
  const key = chatKey(chatId);
  return key.startsWith('-') || key.startsWith('@');
}

/** The scope of one bot (its global limit). */
export function botScope(bot: string): string {
  return `${SCOPE_PREFIX.bot}${bot}`;
}

/** The scopes of one bot's messages to one chat, from the bot's key (see {@link botKey}). */
export function chatScopes(bot: string, chatId: ChatId): Omit<TelegramScopes, 'rules'> {
  const chat = chatKey(chatId);
  const scopes = { bot: botScope(bot), chat: `${SCOPE_PREFIX.chat}${bot}:${chat}` };
  if (chat.startsWith('-') || chat.startsWith('@')) {
    const group = `${SCOPE_PREFIX.group}${bot}:${chat}`;
    return { ...scopes, group, scopes: [scopes.bot, scopes.chat, group] };
  }
  return { ...scopes, scopes: [scopes.bot, scopes.chat] };
}

/**
 * The limiter scopes and rules of a message from a bot to a chat: the bot's global limit (30/s), the chat's
 * (1/s) and, for a group or channel, the group's (20 in every minute). The token is never part of a key
 * (see {@link botKey}).
 * @example
 * const { scopes, rules } = telegramScopes(token, -1001234);
 * const manager = new RateLimitManager({ sender, capacity: 30, duration: '1s', scopes: rules });
 * await manager.sendOrEnqueue([{ id: 'm1', payload, scopes }], 'normal');
 */
export function telegramScopes(token: string, chatId: ChatId): TelegramScopes {
  return { ...chatScopes(botKey(token), chatId), rules: telegramRules() };
}
