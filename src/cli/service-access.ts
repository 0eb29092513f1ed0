import type { Command } from 'commander';
import type { Backend, DeadLetterFilter, MessageRecord } from '../backends/types.js';
import { RateLimitManager } from '../manager/manager.js';
import type { RateLimitManagerOptions } from '../manager/options.js';
import { openBackend } from '../server/backend.js';
import { loadConfig } from '../server/config.js';
import { type QueueStatsAnswer, queueStatsAnswer } from '../server/routes/ops.js';

/** A dead letter as the service lists it. */
export interface DeadLetterView {
  jobId: string;
  messages: Array<{ id: string; target?: string; payload: unknown }>;
  priority: string;
  attempts: number;
  lastError: string | null;
  failedAt: number;
}

/** What the operator verbs need, from a running service over HTTP or from the backend directly. */
export interface ServiceAccess {
  stats(): Promise<QueueStatsAnswer>;
  quota(): Promise<{ remaining: number; total: number }>;
  /** undefined when the id is unknown. */
  status(id: string): Promise<MessageRecord | undefined>;
  deadLetters(limit: number): Promise<DeadLetterView[]>;
  replay(filter: DeadLetterFilter): Promise<number>;
  purge(filter: DeadLetterFilter): Promise<number>;
  close(): Promise<void>;
}

/** Options every operator verb takes. */
export interface AccessOptions {
  url?: string;
  token?: string;
  backend?: string;
  config?: string;
  json?: boolean;
}

/** Adds `--url`, `--token`, `--backend`, `--config` and `--json` to a verb. */
export function accessOptions(command: Command): Command {
  return command
    .option('--url <url>', 'a running service (default $RATEKEEPER_URL or http://127.0.0.1:8080)')
    .option('--token <token>', 'bearer token of the service (default $RATEKEEPER_TOKEN)')
    .option('--backend <spec>', 'open the backend directly instead: memory | sqlite:PATH | redis://HOST:PORT')
    .option('--config <file>', 'the service config (its manager settings and backend, for --backend access)')
    .option('--json', 'print JSON for scripts');
}

/** An error the service answered with (`{ error: { code, message } }`). */
export class ServiceError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ServiceError';
    this.status = status;
    this.code = code;
  }
}

/** Talks to a running service. */
export function httpAccess(url: string, token?: string): ServiceAccess {
  const base = url.replace(/\/+$/, '');
  async function call<T>(
    method: string,
    path: string,
    body?: unknown,
    allow404 = false,
  ): Promise<T | undefined> {
    let response: Response;
    try {
      response = await fetch(base + path, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new ServiceError(
        0,
        'ERR_UNREACHABLE',
        `no service answers at ${base} (${(error as Error).message})`,
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (response.status === 404 && allow404) return undefined;
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ServiceError(
        response.status,
        error?.code ?? `HTTP_${response.status}`,
        `${method} ${path}: ${response.status} ${error?.message ?? text.slice(0, 200)}`,
      );
    }
    return parsed as T;
  }
  return {
    stats: async () => (await call<QueueStatsAnswer>('GET', '/queue/stats'))!,
    quota: async () => (await call<{ remaining: number; total: number }>('GET', '/v1/quota'))!,
    status: (id) => call<MessageRecord>('GET', `/v1/messages/${encodeURIComponent(id)}`, undefined, true),
    deadLetters: async (limit) =>
      (await call<{ deadLetters: DeadLetterView[] }>('GET', `/v1/dead-letters?limit=${limit}`))!.deadLetters,
    replay: async (filter) =>
      (await call<{ replayed: number }>('POST', '/v1/dead-letters/replay', filter))!.replayed,
    purge: async (filter) =>
      (await call<{ purged: number }>('POST', '/v1/dead-letters/purge', filter))!.purged,
    close: async () => {},
  };
}

/** Opens the backend itself (the service may be down): the same queue and quota the service uses. */
export function directAccess(backendSpec: string | undefined, configPath: string | undefined): ServiceAccess {
  const config = loadConfig(configPath);
  const backend: Backend = openBackend(backendSpec ?? config.backend, config.redisPrefix);
  const m = config.manager;
  const manager = new RateLimitManager<{ target?: string; body?: unknown }>({
    ...(m as unknown as Partial<RateLimitManagerOptions<unknown>>),
    capacity: m.capacity,
    duration: m.duration as RateLimitManagerOptions<unknown>['duration'],
    backend,
    // Never started: this manager only reads and edits the queue; the service delivers.
    sender: async () => {
      throw new Error('the CLI does not deliver');
    },
  });
  return {
    async stats() {
      return queueStatsAnswer(await manager.stats());
    },
    quota: () => manager.getQuota(),
    status: (id) => manager.getMessageRecord(id),
    async deadLetters(limit) {
      return (await manager.deadLetters({}, limit)).map((d) => ({
        jobId: d.id,
        messages: d.messages.map((msg) => ({
          id: msg.id,
          target: msg.payload?.target,
          payload: msg.payload?.body,
        })),
        priority: d.priority,
        attempts: d.attempts,
        lastError: d.lastError,
        failedAt: d.failedAt,
      }));
    },
    replay: (filter) => manager.replayDeadLetters(filter),
    purge: (filter) => manager.purgeDeadLetters(filter),
    close: () => backend.close(),
  };
}

/** HTTP unless `--backend` (or only `--config` without `--url`) says to open the backend. */
export function openAccess(options: AccessOptions): ServiceAccess {
  if (options.backend !== undefined || (options.config !== undefined && options.url === undefined)) {
    return directAccess(options.backend, options.config);
  }
  const url = options.url ?? process.env.RATEKEEPER_URL ?? 'http://127.0.0.1:8080';
  return httpAccess(url, options.token ?? process.env.RATEKEEPER_TOKEN);
}

/** Runs a verb with its access, closing it after. */
export async function withAccess<T>(
  options: AccessOptions,
  fn: (access: ServiceAccess) => Promise<T>,
): Promise<T> {
  const access = openAccess(options);
  try {
    return await fn(access);
  } finally {
    await access.close();
  }
}
