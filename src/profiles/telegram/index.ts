/**
 * Telegram Bot API profile: Telegram's limits as limiter scopes and rules, and a grammY API transformer.
 * @example
 * import { telegramThrottler, telegramScopes } from 'ratekeeper/telegram';
 * bot.api.config.use(telegramThrottler({ backend, token }));
 * @packageDocumentation
 */
export { TELEGRAM_LIMITS, type TelegramLimits, type TelegramRules, telegramRules } from './limits.js';
export {
  DEFAULT_RETRY_AFTER_MS,
  retryAfterMs,
  type TelegramErrorResponse,
  type TelegramResponse,
} from './responses.js';
export {
  botKey,
  botScope,
  type ChatId,
  chatKey,
  chatScopes,
  isGroupChat,
  type TelegramScopes,
  telegramScopes,
} from './scopes.js';
export { type TelegramThrottler, type TelegramThrottlerOptions, telegramThrottler } from './throttler.js';
