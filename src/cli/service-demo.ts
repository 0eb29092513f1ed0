import { createServer as createNetServer } from 'node:net';
import type { MessageStatus, Priority } from '../backends/types.js';
import { type Duration, formatDuration, parseDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';
import { DemoUpstream } from '../server/demo-upstream.js';
import { createServer, type RatekeeperServer } from '../server/index.js';

export interface ServiceDemoOptions {
  /** SQLite file of the service. @default './ratekeeper.db' */
  db?: string;
  /** Port on 127.0.0.1; when taken, a free one is used (and the demo says so). 0 = a free one. @default 8080 */
  port?: number;
  /** Chats the traffic goes to. @default 50 */
  chats?: number;
  /** Messages per second offered in a busy phase (a quiet phase offers a tenth). @default 30 */
  rate?: number;
  /** Stop by itself after this long. @default until `signal` aborts (Ctrl-C) */
  for?: Duration;
  /** Between summary lines. @default '2s' */
  every?: Duration;
  /** Stops the demo (the CLI aborts it on Ctrl-C). */
  signal?: AbortSignal;
  out?: (line: string) => void;
}

/** What the demo saw, printed at the end. */
export interface ServiceDemoReport {
  offered: number;
  statuses: Partial<Record<MessageStatus, number>>;
  delivered: number;
  tooManyRequests: number;
  duplicates: number;
  queued: number;
  deadLettered: number;
}

/**
 * The limits of the demo. The upstream enforces Telegram-like limits (1 message per second per chat,
 * 50 per second in all); the service keeps to them with windows 500 ms longer (the headroom for the time
 * between admission and arrival on a busy machine), and its own quota of 20 messages per second is below
 * the global limit, so the priority policy shows: busy phases exhaust it (critical goes first, optional
 * is dropped), quiet phases drain the queue.
 */
const UPSTREAM = { global: { limit: 50, window: '1s' }, perChat: { limit: 1, window: '1s' } } as const;
const HEADROOM_MS = 500;
const MANAGER = { capacity: 20, duration: '1s', concurrency: 8 } as const;
/** Length of a busy and of a quiet phase of the traffic. */
const PHASE_MS = 10_000;
const PRIORITIES: readonly Priority[] = ['critical', 'normal', 'normal', 'optional', 'normal'];

function positiveInteger(value: number | undefined, fallback: number, field: string): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(field, 'a positive integer', n);
  return n;
}

/** Whether 127.0.0.1:port can be listened on right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createNetServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/**
 * `npm start`: the service on the embedded default (SQLite) with a local demo upstream that enforces real
 * limits, traffic across priorities and chats, the dashboard URL, a summary line every few seconds, and
 * a report at the end (Ctrl-C, or `for`). Everything runs in this process and is closed before it resolves.
 */
export async function runServiceDemo(options: ServiceDemoOptions = {}): Promise<ServiceDemoReport> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const chats = positiveInteger(options.chats, 50, 'chats');
  const rate = positiveInteger(options.rate, 30, 'rate');
  const everyMs = parseDuration(options.every ?? '2s', 'every');
  const forMs = options.for === undefined ? undefined : parseDuration(options.for, 'for');
  const wantedPort = options.port ?? 8080;
  if (!Number.isInteger(wantedPort) || wantedPort < 0 || wantedPort > 65_535) {
    throw new InvalidArgumentError('port', 'an integer port from 0 to 65535', wantedPort);
  }
  const db = options.db ?? './ratekeeper.db';

  const upstream = new DemoUpstream(UPSTREAM);
  await upstream.listen();
  let server: RatekeeperServer | undefined;
  try {
    let port = wantedPort;
    if (port !== 0 && !(await portFree(port))) {
      out(`port ${port} is taken; listening on a free port instead`);
      port = 0;
    }
    const limits = upstream.serviceLimits(HEADROOM_MS);
    server = createServer({
      listen: `127.0.0.1:${port}`,
      backend: `sqlite:${db}`,
      log: { level: 'error' },
      manager: { ...MANAGER, scopes: limits.scopes },
      targets: { demo: limits.target },
    });
    const url = await server.listen();
    out(`ratekeeper service demo — SQLite at ${db}`);
    out(
      `  upstream ${upstream.url}: ${UPSTREAM.perChat.limit}/s per chat, ${UPSTREAM.global.limit}/s in all ` +
        `(answers 429 when broken); service quota ${MANAGER.capacity} per ${MANAGER.duration}`,
    );
    out(
      `  traffic: ${chats} chats, ${rate}/s and ${Math.max(1, Math.round(rate / 10))}/s in turns of ${PHASE_MS / 1000}s, mixed priorities`,
    );
    out(`  dashboard: ${url}/`);
    out(
      `  Ctrl-C stops it${forMs === undefined ? '' : ` (or it stops by itself after ${formatDuration(forMs)})`}`,
    );
    return await drive(server, upstream, url, { chats, rate, everyMs, forMs, signal: options.signal, out });
  } finally {
    await server?.close();
    await upstream.close();
  }
}

interface DriveOptions {
  chats: number;
  rate: number;
  everyMs: number;
  forMs: number | undefined;
  signal: AbortSignal | undefined;
  out: (line: string) => void;
}

async function drive(
  server: RatekeeperServer,
  upstream: DemoUpstream,
  url: string,
  o: DriveOptions,
): Promise<ServiceDemoReport> {
  const run = Date.now().toString(36);
  const started = Date.now();
  const statuses: Partial<Record<MessageStatus, number>> = {};
  const pending = new Set<Promise<void>>();
  let offered = 0;
  let sequence = 0;

  const offer = (size: number) => {
    const priority = PRIORITIES[sequence % PRIORITIES.length]!;
    const messages = Array.from({ length: size }, () => {
      const n = sequence++;
      const chat = (n * 7) % o.chats; // spread over the chats, a different one each message
      const id = `demo-${run}-${n}`;
      return { id, payload: { chat_id: chat, id, text: `hello ${n}` }, scopes: `chat:${chat}` };
    });
    offered += size;
    const posted = fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'demo', priority, messages }),
    })
      .then(async (response) => {
        const body = (await response.json()) as { status?: MessageStatus };
        const status = body.status ?? 'dropped-failed-to-enqueue';
        statuses[status] = (statuses[status] ?? 0) + size;
      })
      .catch(() => {
        statuses['dropped-failed-to-enqueue'] = (statuses['dropped-failed-to-enqueue'] ?? 0) + size;
      })
      .finally(() => pending.delete(posted));
    pending.add(posted);
  };

  const summary = async () => {
    const stats = await server.manager.stats();
    const seen = upstream.stats();
    const dropped = Object.entries(statuses)
      .filter(([status]) => status.startsWith('dropped'))
      .reduce((total, [, n]) => total + (n ?? 0), 0);
    const { critical, normal, optional } = stats.queued;
    return (
      `+${Math.round((Date.now() - started) / 1000)}s offered ${offered} · delivered ${seen.delivered} · ` +
      `queued ${critical + normal + optional} (critical ${critical}, normal ${normal}, optional ${optional}) · ` +
      `dropped ${dropped} · dead letters ${stats.deadLettered} · quota ${stats.quota.remaining}/${stats.quota.total} · ` +
      `429s received ${seen.tooManyRequests}`
    );
  };

  await new Promise<void>((resolve) => {
    const tickMs = 100;
    let carry = 0;
    const feed = setInterval(() => {
      const busy = Math.floor((Date.now() - started) / PHASE_MS) % 2 === 0;
      carry += ((busy ? o.rate : Math.max(1, o.rate / 10)) * tickMs) / 1000;
      while (carry >= 1) {
        // Now and then a batch of three messages to three chats (all-or-none).
        const size = sequence % 10 === 9 && carry >= 3 ? 3 : 1;
        offer(size);
        carry -= size;
      }
    }, tickMs);
    const report = setInterval(() => {
      void summary()
        .then(o.out)
        .catch(() => {});
    }, o.everyMs);
    const timer = o.forMs === undefined ? undefined : setTimeout(finish, o.forMs);
    function finish() {
      clearInterval(feed);
      clearInterval(report);
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener('abort', finish);
      resolve();
    }
    if (o.signal?.aborted) finish();
    else o.signal?.addEventListener('abort', finish, { once: true });
  });

  o.out('stopping: no new traffic; waiting for answers in flight…');
  await Promise.all(pending);
  o.out(await summary());
  const stats = await server.manager.stats();
  const seen = upstream.stats();
  const report: ServiceDemoReport = {
    offered,
    statuses,
    delivered: seen.delivered,
    tooManyRequests: seen.tooManyRequests,
    duplicates: seen.duplicates,
    queued: stats.queued.critical + stats.queued.normal + stats.queued.optional + stats.retrying,
    deadLettered: stats.deadLettered,
  };
  o.out(
    `done: offered ${report.offered}, answers ${JSON.stringify(report.statuses)}; the upstream took ${report.delivered} ` +
      `(${report.duplicates} twice) and answered 429 ${report.tooManyRequests} times; ` +
      `${report.queued} still queued (kept in the SQLite file for the next start), ${report.deadLettered} dead letters`,
  );
  return report;
}
