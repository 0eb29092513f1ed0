import { Redis } from 'ioredis';
import { type Duration, parseDuration } from '../../core/duration.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Backend, LimitStore, QueueStore } from '../types.js';
import { Connection } from './connection.js';
import { FallbackLimitStore, type RedisHealth } from './fallback.js';
import { LimitKeys, queuePrefix, validatePrefix } from './keys.js';
import { RedisLimitStore } from './limit-store.js';
import { RedisQueueStore } from './queue-store.js';
import type { RedisClient } from './scripts.js';

export type { RedisHealth } from './fallback.js';
export type { RedisClient } from './scripts.js';

/** What to do with limits while Redis is unreachable. */
export interface RedisFallbackOptions {
  /**
   * Share of every limit (and burst) this process may use from memory while Redis is down, rounded down
   * but at least 1 unit. Set it to `1 / number of processes` to stay within the limits during an outage.
   * @default 0.5
   */
  share?: number;
  /** How often to check whether Redis answers again. @default '1s' */
  probeInterval?: Duration;
}

export interface RedisBackendOptions {
  /** Redis URL for a connection the backend creates and closes. Ignored when `client` is given. @default 'redis://127.0.0.1:6379' */
  url?: string;
  /**
   * Your ioredis `Redis` or `Cluster` client. The backend never closes it. For fast fallback, create it with
   * `enableOfflineQueue: false` (otherwise commands wait in ioredis until `commandTimeout` gives up on them).
   */
  client?: RedisClient;
  /**
   * Namespace of every key (no `{` or `}`). All limit keys of one prefix share one Cluster slot; use several
   * prefixes to spread limiters over shards.
   * @default 'rk'
   */
  prefix?: string;
  /**
   * In-memory fallback for limits while Redis is unreachable; `false` to reject with BackendError instead.
   * Queue operations always reject with BackendError while Redis is down.
   * @default { share: 0.5, probeInterval: '1s' }
   */
  fallback?: RedisFallbackOptions | false;
  /** How long a limit operation waits for Redis before it counts as unreachable. @default '1s' */
  commandTimeout?: Duration;
  /** How long a key outlives the moment its state becomes idle (absorbs clock skew). @default '5s' */
  idleGrace?: Duration;
  /**
   * Most decisions coalesced into one script call. Smaller batches let this process prepare one batch
   * while Redis runs another; 64 measured best with 128 decisions in flight.
   * @default 64
   */
  maxBatch?: number;
  /** Receives the fallback and recovery notices. @default console */
  logger?: { warn(message: string): void };
}

/**
 * Limits and queues in Redis, shared by every process and machine that uses the same prefix. Every
 * operation is one atomic Lua script and one round trip; concurrent decisions of one process are
 * coalesced into one script call. When Redis is unreachable, limits fall back to memory (see `fallback`)
 * and return to Redis by themselves once it answers.
 * @example const backend = new RedisBackend({ url: 'redis://127.0.0.1:6379', prefix: 'rk' });
 * @example const backend = new RedisBackend({ client: new Cluster([{ host: 'redis-1', port: 6379 }]) });
 */
export class RedisBackend implements Backend {
  readonly kind = 'redis';
  readonly limits: LimitStore;
  readonly prefix: string;
  readonly #connection: Connection;
  readonly #fallback: FallbackLimitStore | undefined;
  readonly #queues = new Map<string, RedisQueueStore<unknown>>();
  #closed = false;

  constructor(options: RedisBackendOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options', 'an options object', options);
    }
    this.prefix = validatePrefix(options.prefix ?? 'rk');
    const timeoutMs = parseDuration(options.commandTimeout ?? '1s', 'commandTimeout');
    const graceMs = parseDuration(options.idleGrace ?? '5s', 'idleGrace');
    const maxBatch = options.maxBatch ?? 64;
    if (!Number.isInteger(maxBatch) || maxBatch < 1) {
      throw new InvalidArgumentError('maxBatch', 'an integer >= 1', maxBatch);
    }
    const fallback = options.fallback ?? {};
    let share = 0.5;
    let probeIntervalMs = 1000;
    if (fallback !== false) {
      if (fallback === null || typeof fallback !== 'object') {
        throw new InvalidArgumentError('fallback', 'false or { share?, probeInterval? }', fallback);
      }
      share = fallback.share ?? share;
      if (typeof share !== 'number' || !(share > 0 && share <= 1)) {
        throw new InvalidArgumentError('fallback.share', 'a number in (0, 1]', fallback.share);
      }
      probeIntervalMs = parseDuration(fallback.probeInterval ?? probeIntervalMs, 'fallback.probeInterval');
    }
    const logger = options.logger ?? console;
    if (typeof logger?.warn !== 'function') {
      throw new InvalidArgumentError('logger', 'an object with warn(message)', logger);
    }
    if (options.client !== undefined) {
      const client = options.client;
      if (client === null || typeof (client as { evalsha?: unknown }).evalsha !== 'function') {
        throw new InvalidArgumentError('client', 'an ioredis Redis or Cluster client', client);
      }
      this.#connection = new Connection(client, false);
    } else {
      const url = options.url ?? 'redis://127.0.0.1:6379';
      if (typeof url !== 'string' || url.length === 0) {
        throw new InvalidArgumentError('url', 'a redis:// URL', url);
      }
      const client = new Redis(url, {
        lazyConnect: true,
        // Fail fast while disconnected: decisions fall back to memory instead of waiting in a queue.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        connectTimeout: Math.max(timeoutMs, 1000),
        commandTimeout: timeoutMs,
        retryStrategy: (times) => Math.min(times * 100, 1000),
      });
      // Errors surface through the commands that fail; without a listener ioredis would print each one.
      client.on('error', () => {});
      this.#connection = new Connection(client, true);
    }
    const keys = new LimitKeys(this.prefix);
    const redis = new RedisLimitStore(this.#connection, keys, { graceMs, maxBatch, timeoutMs });
    if (fallback === false) {
      this.limits = redis;
    } else {
      this.#fallback = new FallbackLimitStore(redis, {
        share,
        probeIntervalMs,
        logger,
        probe: async () => {
          const connecting = this.#connection.ready();
          if (connecting) await connecting;
          await this.#connection.client.exists(keys.blocks);
        },
      });
      this.limits = this.#fallback;
    }
  }

  /** The ioredis client in use (yours, or the one created from `url`). */
  get client(): RedisClient {
    return this.#connection.client;
  }

  /** Whether limits are shared through Redis or decided from memory, and how often that changed. */
  get health(): RedisHealth {
    return this.#fallback?.health ?? { mode: 'redis', fallbacks: 0, recoveries: 0, lastError: null };
  }

  queue<T = unknown>(name = 'default'): QueueStore<T> {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new RedisQueueStore<unknown>(this.#connection, queuePrefix(this.prefix, name));
      this.#queues.set(name, queue);
    }
    return queue as QueueStore<T>;
  }

  /** Stops the fallback probe and closes the connection the backend created (never a client you passed). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#fallback?.close();
    await this.#connection.close();
  }
}
