import type { Transformer } from 'grammy';
import type { Backend } from '../../backends/types.js';
import type { Clock } from '../../core/clock.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { RateLimiter } from '../../limiter/rate-limiter.js';
import { BotAdmission } from './admission.js';
import type { TelegramLimits } from './limits.js';
import { telegramRules } from './limits.js';
import { Lines, sleepUnlessAborted, unlessAborted } from './lines.js';
import { retryAfterMs, type TelegramResponse } from './responses.js';
import { botKey, type ChatId, chatKey, chatScopes } from './scopes.js';

export interface TelegramThrottlerOptions {
  /** Where limit state and blocks live; share it (SQLite file, Redis) to share the limits between processes. @default new MemoryBackend() */
  backend?: Backend;
  /** @default systemClock */
  clock?: Clock;
  /** Overrides of Telegram's limits (30/s per bot, 1/s per chat, 20 per minute per group). */
  limits?: Partial<TelegramLimits>;
  /**
   * The bot's token. Only its id (or a hash) is used, to name the bot's scopes. Without it the throttler asks
   * the Bot API once (`getMe`) which bot it serves.
   */
  token?: string;
  /** Calls to the Bot API per API call, 429 retries included; the last 429 answer is returned. @default 3 */
  maxAttempts?: number;
}

/** A grammY API transformer that keeps a bot within Telegram's limits, with the limiter it uses. */
export type TelegramThrottler = Transformer & {
  /** The limiter behind it: `stats(scopes)`, `block`, `reset`. */
  readonly limiter: RateLimiter;
};

/** The next step of the transformer chain, as the throttler uses it. */
type Call = (method: string, payload: unknown, signal?: AbortSignal) => Promise<TelegramResponse>;

/**
 * A grammY API transformer (`bot.api.config.use(telegramThrottler({ backend }))`) that keeps a bot within
 * Telegram's limits. It imports nothing from grammY at run time.
 *
 * - A call with a `chat_id` waits (exactly, no polling) until the bot's global limit, the chat's and, for a
 *   group or channel, the group's admit it; chats that are ready take the bot's slots in turn (see
 *   {@link BotAdmission}). Calls to one chat go one at a time, in the order they were made,
 *   so their order holds even while they wait or are retried. After an answer the chat is also held for one
 *   interval of its limit (1 s), so that the spacing holds where Telegram measures it, on arrival.
 * - A call without `chat_id` (`getUpdates`, `getMe`, `answerCallbackQuery`, …) is not counted and never waits
 *   for quota: Telegram's limits are on messages to chats, and a long poll must not queue behind a broadcast.
 * - A 429 answer blocks the chat's scope for `retry_after` seconds in the backend, so every process sharing
 *   it holds back; then the call is made again, up to `maxAttempts` calls, and the last answer is returned
 *   (a 429 without `chat_id` is waited out locally). Any other answer or error passes through unchanged.
 * - The call's abort signal ends a wait at once with `AbortError`; nothing is charged for it.
 *
 * Use one throttler per bot.
 * @example
 * const bot = new Bot(token);
 * bot.api.config.use(telegramThrottler({ backend: new SqliteBackend({ path: './ratekeeper.db' }), token }));
 */
export function telegramThrottler(options: TelegramThrottlerOptions = {}): TelegramThrottler {
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', 'an options object', options);
  }
  const maxAttempts = options.maxAttempts ?? 3;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new InvalidArgumentError('maxAttempts', 'an integer >= 1', maxAttempts);
  }
  const limiter = new RateLimiter({
    scopes: telegramRules(options.limits),
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const clock = limiter.clock;
  const lines = new Lines();
  const admission = new BotAdmission(limiter);
  const gapMs = chatGapMs(limiter);
  let bot: Promise<string> | undefined =
    options.token === undefined ? undefined : Promise.resolve(botKey(options.token));

  /**
   * The bot's key: from the token, or asked once with `getMe` (again on the next call if that fails). The
   * one `getMe` serves every call waiting for it, so it carries no call's signal; each waits with its own.
   */
  const whoAmI = (prev: Call, signal: AbortSignal | undefined): Promise<string> => {
    if (!bot) {
      const asked = prev('getMe', {}).then((answer) => {
        const id = answer.ok ? (answer.result as { id?: unknown } | null)?.id : undefined;
        if (typeof id !== 'number' && typeof id !== 'string') throw new IdentityError(answer);
        return String(id);
      });
      bot = asked;
      asked.catch(() => {
        if (bot === asked) bot = undefined;
      });
    }
    return unlessAborted(bot, signal);
  };

  const send = async (
    prev: Call,
    method: string,
    payload: unknown,
    signal: AbortSignal | undefined,
    chatId: ChatId,
  ): Promise<TelegramResponse> => {
    let key: string;
    try {
      key = await whoAmI(prev, signal);
    } catch (error) {
      if (error instanceof IdentityError) return error.answer;
      throw error;
    }
    const scopes = chatScopes(key, chatId);
    return lines.run(scopes.chat, signal, async () => {
      for (let attempt = 1; ; attempt++) {
        await admission.admit(scopes, signal);
        const answer = await prev(method, payload, signal);
        const wait = retryAfterMs(answer);
        if (wait === undefined) {
          // Telegram counts a message when it arrives, we when we let it go: the two differ by however long
          // the request was on its way. Holding the chat for one interval after the answer keeps the spacing
          // true at Telegram's end too (the next call to the chat arrives after this one was answered).
          if (answer.ok && gapMs > 0) await limiter.block(scopes.chat, gapMs);
          return answer;
        }
        await limiter.block(scopes.chat, wait);
        if (attempt >= maxAttempts) return answer;
      }
    });
  };

  const pass = async (
    prev: Call,
    method: string,
    payload: unknown,
    signal: AbortSignal | undefined,
  ): Promise<TelegramResponse> => {
    for (let attempt = 1; ; attempt++) {
      const answer = await prev(method, payload, signal);
      const wait = retryAfterMs(answer);
      if (wait === undefined || attempt >= maxAttempts) return answer;
      await sleepUnlessAborted(clock.sleep.bind(clock), wait, signal);
    }
  };

  const transformer = (prev: Call, method: string, payload: unknown, signal?: AbortSignal) => {
    const chatId = chatIdOf(payload);
    return chatId === undefined
      ? pass(prev, method, payload, signal)
      : send(prev, method, payload, signal, chatId);
  };
  // grammY's Transformer type is generic over every Bot API method; this one treats them all alike.
  return Object.assign(transformer as unknown as Transformer, { limiter });
}

/** The shortest even spacing the chat rules allow (1 s for Telegram's 1 per second). */
function chatGapMs(limiter: RateLimiter): number {
  let gap = Number.POSITIVE_INFINITY;
  for (const rule of limiter.rules.resolve(chatScopes('0', 0).chat)) {
    if (rule.unit === 'requests' && rule.limit >= 1) gap = Math.min(gap, rule.windowMs / rule.limit);
  }
  return Number.isFinite(gap) ? gap : 0;
}

/** The `chat_id` of a payload, when it has a usable one (a malformed id is left for the Bot API to refuse). */
function chatIdOf(payload: unknown): ChatId | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const id = (payload as { chat_id?: unknown }).chat_id;
  if (typeof id !== 'number' && typeof id !== 'string') return undefined;
  try {
    chatKey(id);
    return id;
  } catch {
    return undefined;
  }
}

/** `getMe` did not say which bot this is: its answer is returned for the call that needed it. */
class IdentityError extends Error {
  readonly answer: TelegramResponse;
  constructor(answer: TelegramResponse) {
    super('getMe did not return the bot');
    this.answer = answer;
  }
}
