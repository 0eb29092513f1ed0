import { InvalidArgumentError } from '../../core/errors.js';
import type { Rule } from '../../core/types.js';
import { compileRules } from '../../engine/rules.js';

/**
 * Telegram's limits per bot token, as rules. Each entry is one rule or a list of rules.
 * @see https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
 */
export interface TelegramLimits {
  /** All chats of one bot together. @default { limit: 30, window: '1s' } */
  global: Rule | readonly Rule[];
  /** One chat of one bot (private chats, groups and channels). @default { limit: 1, window: '1s' } */
  chat: Rule | readonly Rule[];
  /**
   * One group or channel of one bot (a negative `chat_id`, or an `@channel` name), on top of `chat`.
   * A sliding window: at most 20 in **every** minute, not only in aligned ones. @default { limit: 20, window: '1m' }
   */
  group: Rule | readonly Rule[];
}

/** Telegram's documented limits. */
export const TELEGRAM_LIMITS: Readonly<TelegramLimits> = Object.freeze({
  global: Object.freeze({ limit: 30, window: '1s', name: 'telegram-global' }),
  chat: Object.freeze({ limit: 1, window: '1s', name: 'telegram-chat' }),
  group: Object.freeze({ limit: 20, window: '1m', name: 'telegram-group' }),
});

/** Scope key prefixes; a key is `<prefix><bot>` or `<prefix><bot>:<chat>`. */
export const SCOPE_PREFIX = Object.freeze({
  bot: 'telegram:bot:',
  chat: 'telegram:chat:',
  group: 'telegram:group:',
});

/** The three scope patterns with their rules. */
export type TelegramRules = Record<
  `${(typeof SCOPE_PREFIX)[keyof typeof SCOPE_PREFIX]}*`,
  Rule | readonly Rule[]
>;

/**
 * The rules of every Telegram scope, by pattern: pass them as `scopes` to a `RateLimiter` or a
 * `RateLimitManager`, and name a message's scopes with {@link telegramScopes}.
 * @param limits overrides of Telegram's limits (validated here).
 * @example
 * const limiter = new RateLimiter({ backend, scopes: telegramRules() });
 * await limiter.acquire({ scopes: telegramScopes(token, chatId).scopes });
 */
export function telegramRules(limits: Partial<TelegramLimits> = {}): TelegramRules {
  if (limits === null || typeof limits !== 'object') {
    throw new InvalidArgumentError('limits', 'an object { global?, chat?, group? } of rules', limits);
  }
  for (const key of Object.keys(limits)) {
    if (!(key in TELEGRAM_LIMITS)) {
      throw new InvalidArgumentError(`limits.${key}`, 'one of global, chat, group', key);
    }
  }
  const pick = (kind: keyof TelegramLimits): Rule | readonly Rule[] => {
    const rules = limits[kind] ?? TELEGRAM_LIMITS[kind];
    compileRules(rules, `limits.${kind}`); // validates; the limiter compiles again
    return rules;
  };
  return {
    [`${SCOPE_PREFIX.bot}*`]: pick('global'),
    [`${SCOPE_PREFIX.chat}*`]: pick('chat'),
    [`${SCOPE_PREFIX.group}*`]: pick('group'),
  } as TelegramRules;
}
