/**
 * A fake receiver on 127.0.0.1 that enforces its own rate limit the way real APIs do: more than `limit`
 * requests in any `windowMs` (on the given clock) is answered 429 with `Retry-After`, and counted as a
 * violation. `behave` can script other answers per message id and attempt.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Clock } from '../../src/core/clock.js';

export interface Received {
  id: string;
  at: number;
  body: unknown;
  headers: IncomingMessage['headers'];
  status: number;
}

export interface Answer {
  status: number;
  headers?: Record<string, string>;
  /** Answer only after this many real ms (a slow receiver). */
  delayMs?: number;
}

export interface UpstreamOptions {
  clock: Clock;
  /** Requests per window the receiver accepts. @default Infinity */
  limit?: number;
  windowMs?: number;
  /** Seconds told in Retry-After when the limit is broken. @default 1 */
  retryAfterSeconds?: number;
  /** Scripted answers; undefined = the default (200, or 429 over the limit). */
  behave?: (id: string, nth: number, body: unknown) => Answer | undefined;
}

export interface Upstream {
  url: string;
  port: number;
  received: Received[];
  /** Requests accepted (2xx) per id. */
  delivered(): Map<string, number>;
  /** Requests that broke the limit. */
  violations: number;
  close(): Promise<void>;
}

export async function startUpstream(options: UpstreamOptions, port = 0): Promise<Upstream> {
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const windowMs = options.windowMs ?? 1000;
  const accepted: number[] = [];
  const received: Received[] = [];
  const tries = new Map<string, number>();
  const state = { violations: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const now = options.clock.now();
      const id = String(req.headers['idempotency-key'] ?? '');
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      const nth = (tries.get(id) ?? 0) + 1;
      tries.set(id, nth);
      while (accepted.length > 0 && accepted[0]! <= now - windowMs) accepted.shift();
      let answer = options.behave?.(id, nth, body);
      if (!answer) {
        if (accepted.length >= limit) {
          state.violations++;
          answer = { status: 429, headers: { 'retry-after': String(options.retryAfterSeconds ?? 1) } };
        } else {
          answer = { status: 200 };
        }
      }
      if (answer.status >= 200 && answer.status < 300) accepted.push(now);
      received.push({ id, at: now, body, headers: req.headers, status: answer.status });
      const reply = () => {
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(JSON.stringify({ ok: answer.status < 300 }));
      };
      if (answer.delayMs) setTimeout(reply, answer.delayMs);
      else reply();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/deliver`,
    port: actual,
    received,
    get violations() {
      return state.violations;
    },
    delivered() {
      const out = new Map<string, number>();
      for (const r of received) if (r.status < 300) out.set(r.id, (out.get(r.id) ?? 0) + 1);
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Waits (real time, for I/O) until `check` holds; fails with `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
