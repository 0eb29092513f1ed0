import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../core/clock.js';
import { type Duration, parsePositiveDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';

/** At most `limit` deliveries in every interval of length `window`. */
export interface UpstreamLimit {
  limit: number;
  window: Duration;
}

export interface DemoUpstreamOptions {
  /** Over all deliveries. @default { limit: 30, window: '1s' } (Telegram's per-bot limit) */
  global?: UpstreamLimit;
  /** Per chat (the body's `chat_id`). @default { limit: 1, window: '1s' } (Telegram's per-chat limit) */
  perChat?: UpstreamLimit;
  /** Port on 127.0.0.1. @default 0 (a free port) */
  port?: number;
  /** Only `now()` is used: the time a request arrives. @default the wall clock */
  clock?: Pick<Clock, 'now'>;
  /** Largest body accepted, bytes. @default 65536 */
  maxBodyBytes?: number;
}

/**
 * The service config that keeps to an upstream's limits: a target whose rule is the global limit and a
 * `chat:*` scope with the per-chat one, each window lengthened by `headroomMs` (see
 * {@link DemoUpstream.serviceLimits}).
 */
export interface ServiceLimits {
  target: { url: string; limits: Array<{ limit: number; window: number }> };
  scopes: { 'chat:*': { limit: number; window: number } };
}

/** What the upstream has seen since it started. */
export interface DemoUpstreamStats {
  /** Requests answered 200. */
  delivered: number;
  /** Requests answered 429 because a limit was broken. */
  tooManyRequests: number;
  /** Of those, refused by the per-chat limit (the others broke only the global one). */
  tooManyForChat: number;
  /** Deliveries of a message `id` that had been delivered before. */
  duplicates: number;
  /** Requests that were not a JSON object (answered 400). */
  badRequests: number;
  /** Chats with a delivery inside their window right now. */
  chats: number;
}

interface ResolvedLimit {
  limit: number;
  windowMs: number;
}

/**
 * An exact sliding log: the arrival times admitted in the last window. `admits` and `charge` are split so
 * that a request is charged only when every limit admits it.
 */
class SlidingLog {
  readonly #times: number[] = [];
  #head = 0;

  constructor(readonly rule: ResolvedLimit) {}

  /** Forgets arrivals older than the window (an arrival at `t` counts in `(t - window, t]`… until `t + window`). */
  expire(now: number): void {
    const times = this.#times;
    while (this.#head < times.length && times[this.#head]! + this.rule.windowMs <= now) this.#head++;
    if (this.#head > 64 && this.#head * 2 > times.length) {
      times.splice(0, this.#head);
      this.#head = 0;
    }
  }

  get size(): number {
    return this.#times.length - this.#head;
  }

  /** 0 when one more arrival fits now, else the ms until the oldest arrival leaves the window. */
  waitMs(now: number): number {
    this.expire(now);
    if (this.size < this.rule.limit) return 0;
    return this.#times[this.#times.length - this.rule.limit]! + this.rule.windowMs - now;
  }

  charge(now: number): void {
    this.#times.push(now);
  }
}

function resolveLimit(
  value: UpstreamLimit | undefined,
  fallback: UpstreamLimit,
  field: string,
): ResolvedLimit {
  const rule = value ?? fallback;
  if (typeof rule !== 'object' || rule === null)
    throw new InvalidArgumentError(field, '{ limit, window }', rule);
  if (!Number.isInteger(rule.limit) || rule.limit < 1) {
    throw new InvalidArgumentError(`${field}.limit`, 'a positive integer', rule.limit);
  }
  return { limit: rule.limit, windowMs: parsePositiveDuration(rule.window, `${field}.window`) };
}

/**
 * A stand-in receiver for demos and tests: a plain `node:http` server on 127.0.0.1 that enforces real
 * limits, the way Telegram's Bot API does. `POST /deliver` with a JSON object body is one delivery; the
 * body's `chat_id` names the chat (absent: one shared chat). When a global or per-chat limit would be
 * broken it answers `429` with `Retry-After` (whole seconds, rounded up) and Telegram's error body, and
 * charges nothing. `GET /stats` answers {@link DemoUpstreamStats} as JSON.
 *
 * Limits are exact sliding windows over arrival times: in every interval of length `window`, at most
 * `limit` requests are answered 200.
 *
 * @example
 * const upstream = new DemoUpstream({ global: { limit: 30, window: '1s' }, perChat: { limit: 1, window: '1s' } });
 * const url = await upstream.listen(); // http://127.0.0.1:PORT; deliver to `${url}/deliver`
 * upstream.stats();                    // { delivered, tooManyRequests, duplicates, badRequests, chats }
 * await upstream.close();
 */
export class DemoUpstream {
  readonly global: ResolvedLimit;
  readonly perChat: ResolvedLimit;
  readonly #port: number;
  readonly #clock: Pick<Clock, 'now'>;
  readonly #maxBodyBytes: number;
  readonly #globalLog: SlidingLog;
  readonly #chats = new Map<string, SlidingLog>();
  readonly #deliveredIds = new Map<string, number>();
  #delivered = 0;
  #tooMany = 0;
  #tooManyForChat = 0;
  #duplicates = 0;
  #badRequests = 0;
  #sweepAt = 0;
  #server: Server | undefined;

  constructor(options: DemoUpstreamOptions = {}) {
    this.global = resolveLimit(options.global, { limit: 30, window: '1s' }, 'global');
    this.perChat = resolveLimit(options.perChat, { limit: 1, window: '1s' }, 'perChat');
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new InvalidArgumentError('port', 'an integer port from 0 to 65535', port);
    }
    const maxBodyBytes = options.maxBodyBytes ?? 65_536;
    if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1) {
      throw new InvalidArgumentError('maxBodyBytes', 'a positive integer', maxBodyBytes);
    }
    this.#port = port;
    this.#maxBodyBytes = maxBodyBytes;
    this.#clock = options.clock ?? systemClock;
    this.#globalLog = new SlidingLog(this.global);
  }

  /** Starts listening on 127.0.0.1; resolves to the base URL (`http://127.0.0.1:PORT`). */
  async listen(): Promise<string> {
    if (this.#server)
      throw new InvalidArgumentError('listen', 'an upstream that is not listening yet', 'listening');
    const server = createServer((request, response) => this.#handle(request, response));
    server.keepAliveTimeout = 5_000;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return this.url;
  }

  /** The base URL; only while listening. */
  get url(): string {
    const address = this.#server?.address() as AddressInfo | null | undefined;
    if (!address) throw new InvalidArgumentError('url', 'a listening upstream', 'not listening');
    return `http://127.0.0.1:${address.port}`;
  }

  /** Stops listening and closes idle keep-alive connections. */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  stats(): DemoUpstreamStats {
    return {
      delivered: this.#delivered,
      tooManyRequests: this.#tooMany,
      tooManyForChat: this.#tooManyForChat,
      duplicates: this.#duplicates,
      badRequests: this.#badRequests,
      chats: this.#chats.size,
    };
  }

  /**
   * Limits for a ratekeeper service delivering here: the same limits, each window `headroomMs` longer.
   * The upstream counts a request when it arrives and ratekeeper when it admits it; the headroom covers
   * the time between the two (a message admitted at `t` may arrive at `t + d`, the next one admitted at
   * `t + window` may arrive at once), so it should exceed the spread of that delay. Messages name their
   * chat as the scope `chat:<chat_id>`.
   */
  serviceLimits(headroomMs = 0): ServiceLimits {
    if (!Number.isFinite(headroomMs) || headroomMs < 0) {
      throw new InvalidArgumentError('headroomMs', 'a non-negative number of milliseconds', headroomMs);
    }
    return {
      target: {
        url: `${this.url}/deliver`,
        limits: [{ limit: this.global.limit, window: this.global.windowMs + headroomMs }],
      },
      scopes: { 'chat:*': { limit: this.perChat.limit, window: this.perChat.windowMs + headroomMs } },
    };
  }

  /** How many times the message with this body `id` was delivered (answered 200). */
  delivered(id: string): number {
    return this.#deliveredIds.get(id) ?? 0;
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    if (request.method === 'GET' && request.url === '/stats') {
      send(response, 200, this.stats());
      return;
    }
    if (request.method !== 'POST' || request.url !== '/deliver') {
      request.resume();
      send(response, 404, { ok: false, error_code: 404, description: 'Not Found' });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= this.#maxBodyBytes) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > this.#maxBodyBytes) {
        this.#badRequests++;
        send(response, 413, { ok: false, error_code: 413, description: 'Request Entity Too Large' });
        return;
      }
      this.#deliver(Buffer.concat(chunks).toString('utf8'), response);
    });
  }

  #deliver(text: string, response: ServerResponse): void {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      this.#badRequests++;
      send(response, 400, { ok: false, error_code: 400, description: 'Bad Request: expected a JSON object' });
      return;
    }
    const { chat_id: chat, id } = body as { chat_id?: unknown; id?: unknown };
    const now = this.#clock.now();
    this.#sweep(now);
    const chatKey = chat === undefined ? '' : String(chat);
    let chatLog = this.#chats.get(chatKey);
    if (!chatLog) {
      chatLog = new SlidingLog(this.perChat);
      this.#chats.set(chatKey, chatLog);
    }
    const chatWaitMs = chatLog.waitMs(now);
    const waitMs = Math.max(chatWaitMs, this.#globalLog.waitMs(now));
    if (waitMs > 0) {
      this.#tooMany++;
      if (chatWaitMs > 0) this.#tooManyForChat++;
      if (chatLog.size === 0) this.#chats.delete(chatKey);
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      response.setHeader('retry-after', String(seconds));
      send(response, 429, {
        ok: false,
        error_code: 429,
        description: `Too Many Requests: retry after ${seconds}`,
        parameters: { retry_after: seconds },
      });
      return;
    }
    chatLog.charge(now);
    this.#globalLog.charge(now);
    this.#delivered++;
    if (typeof id === 'string' || typeof id === 'number') {
      const key = String(id);
      const seen = this.#deliveredIds.get(key) ?? 0;
      if (seen > 0) this.#duplicates++;
      this.#deliveredIds.set(key, seen + 1);
    }
    send(response, 200, { ok: true });
  }

  /** At most once per per-chat window: drops chats with nothing left in their window. */
  #sweep(now: number): void {
    if (now < this.#sweepAt) return;
    this.#sweepAt = now + this.perChat.windowMs;
    for (const [key, log] of this.#chats) {
      log.expire(now);
      if (log.size === 0) this.#chats.delete(key);
    }
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  response.end(text);
}
