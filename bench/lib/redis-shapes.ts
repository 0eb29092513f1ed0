/**
 * The workloads of the Redis limiter benches (bench/redis.ts, bench/scale-out.ts): each row's two sides,
 * ours (RateLimiter on a RedisBackend) and rate-limiter-flexible's RateLimiterRedis with the same limits,
 * and the in-flight driver both run under.
 */
import type { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes, RateLimiterUnion } from 'rate-limiter-flexible';
import type { RedisBackend } from '../../src/backends/redis/index.js';
import type { AlgorithmName, LimitRequest, Rule } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

export const IN_FLIGHT = 128;
export const LIMIT = 1_000_000_000;
export const WINDOW_S = 60;
export const PEER = 'rate-limiter-flexible RateLimiterRedis.consume';

export interface Tally {
  admitted: number;
  total: number;
}

/**
 * Runs `n` operations with `IN_FLIGHT` workers, each starting the next as soon as one resolves. The
 * operation index keeps counting across batches, so a row over many keys visits all of them in turn.
 */
export function inFlight(op: (i: number) => Promise<boolean>, tally: Tally) {
  let cursor = 0;
  return async (n: number) => {
    let done = 0;
    const worker = async () => {
      while (done < n) {
        done++;
        if (await op(cursor++)) tally.admitted++;
        tally.total++;
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  };
}

/** RLF's consume as a boolean: a rejection with a RateLimiterRes (or a union's map of them) is a refusal. */
async function consumed(consume: () => Promise<unknown>): Promise<boolean> {
  try {
    await consume();
    return true;
  } catch (error) {
    if (error instanceof RateLimiterRes) return false;
    if (error && typeof error === 'object' && Object.values(error).every((e) => e instanceof RateLimiterRes))
      return false;
    throw error;
  }
}

/** One row's two sides, built on the clients and prefixes `measure` gives them. */
export interface Sides {
  ours(backend: RedisBackend): (i: number) => Promise<boolean>;
  theirs(client: Redis, prefix: string): (i: number) => Promise<boolean>;
}

/** One rule per key over `count` keys, against one RateLimiterRedis with the same limit. */
export function oneRule(count: number, algorithm: AlgorithmName): Sides {
  const keys = Array.from({ length: count }, (_, i) => `user:${i}`);
  return {
    ours(backend) {
      const limiter = new RateLimiter({
        backend,
        scopes: { 'user:*': { limit: LIMIT, window: `${WINDOW_S}s`, algorithm } },
      });
      const requests: LimitRequest[] = keys.map((scopes) => ({ scopes }));
      return async (i) => (await limiter.tryAcquire(requests[i % count]!)).allowed;
    },
    theirs(client, prefix) {
      const rlf = new RateLimiterRedis({
        storeClient: client,
        keyPrefix: prefix,
        points: LIMIT,
        duration: WINDOW_S,
      });
      return (i) => consumed(() => rlf.consume(keys[i % count]!));
    },
  };
}

export const CHATS = 10_000;
export const BOTS = 10;
/** The two rules of every Telegram scope: a per-minute and a per-hour fixed window. */
export const TELEGRAM_RULES: Rule[] = [
  { limit: LIMIT, window: '1m', algorithm: 'fixed-window' },
  { limit: LIMIT * 60, window: '1h', algorithm: 'fixed-window', name: 'hourly' },
];

/**
 * The Telegram shape: every decision passes `global`, one of 10 bots and one of 10k chats, each scope with
 * a per-minute and a per-hour rule. RLF: per scope a RateLimiterUnion of its two RateLimiterRedis (a union
 * hands one key to all its limiters, so one union per scope keeps `global` global), the three unions
 * consumed together: six limiters, six script calls per decision.
 */
export function telegram(): Sides {
  const chats = Array.from({ length: CHATS }, (_, i) => `chat:${i}`);
  const bots = Array.from({ length: BOTS }, (_, i) => `bot:${i}`);
  return {
    ours(backend) {
      const limiter = new RateLimiter({
        backend,
        scopes: { global: TELEGRAM_RULES, 'bot:*': TELEGRAM_RULES, 'chat:*': TELEGRAM_RULES },
      });
      const requests: LimitRequest[] = chats.map((chat, i) => ({
        scopes: ['global', bots[i % BOTS]!, chat],
      }));
      return async (i) => (await limiter.tryAcquire(requests[i % CHATS]!)).allowed;
    },
    theirs(client, prefix) {
      const union = (scope: string) =>
        new RateLimiterUnion(
          new RateLimiterRedis({
            storeClient: client,
            keyPrefix: `${prefix}:${scope}:m`,
            points: LIMIT,
            duration: 60,
          }),
          new RateLimiterRedis({
            storeClient: client,
            keyPrefix: `${prefix}:${scope}:h`,
            points: LIMIT * 60,
            duration: 3600,
          }),
        );
      const [global, bot, chat] = [union('global'), union('bot'), union('chat')];
      return (i) =>
        consumed(() =>
          Promise.all([
            global.consume('global'),
            bot.consume(bots[i % BOTS]!),
            chat.consume(chats[i % CHATS]!),
          ]),
        );
    },
  };
}
