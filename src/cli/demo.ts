import { SqliteBackend } from '../backends/sqlite/index.js';
import type { MessageStatus, Priority } from '../backends/types.js';
import { parsePositiveDuration } from '../core/duration.js';
import { RateLimitManager } from '../manager/manager.js';
import { DemoUpstream } from '../server/demo-upstream.js';

export interface DemoOptions {
  db: string;
  capacity: number;
  window: string;
  messages: number;
  out?: (line: string) => void;
}

/** What the terminal demo ends with. */
export interface DemoReport {
  delivered: number;
  dropped: number;
  queued: number;
  /** 429 answers the receiver gave (it enforces the same quota). */
  tooManyRequests: number;
}

/**
 * Shows the manager at work on the embedded default (SQLite in the working directory): a burst of mixed
 * priorities against a small quota, then the background loop draining the queue as quota returns. The
 * sender POSTs each message to a local {@link DemoUpstream} that enforces the same quota (its window 30 %
 * shorter: headroom for the time between admission and arrival) and answers 429 when it is broken.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const windowMs = parsePositiveDuration(options.window, 'window');
  const upstream = new DemoUpstream({
    global: { limit: options.capacity, window: Math.max(1, Math.floor(windowMs * 0.7)) },
    perChat: { limit: options.capacity, window: Math.max(1, Math.floor(windowMs * 0.7)) },
  });
  const receiver = `${await upstream.listen()}/deliver`;
  const backend = new SqliteBackend({ path: options.db });
  const started = Date.now();
  const stamp = () => `+${((Date.now() - started) / 1000).toFixed(1)}s`;
  const manager = new RateLimitManager<string>({
    backend,
    name: `demo-${process.pid}-${started}`,
    capacity: options.capacity,
    duration: options.window as `${number}s`,
    sleep: '50ms',
    sender: async (batch, context) => {
      out(
        `${stamp()} sender ← ${batch.map((m) => m.id).join(', ')} (${context.priority}, attempt ${context.attempt})`,
      );
      for (const message of batch) {
        const response = await fetch(receiver, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ id: message.id, text: message.payload }),
        });
        await response.arrayBuffer();
        if (!response.ok) {
          // HTTP 429 with Retry-After: the manager waits exactly that long (and blocks the quota's scope).
          throw Object.assign(new Error(`receiver answered ${response.status}`), {
            status: response.status,
            headers: response.headers,
          });
        }
      }
    },
  });
  try {
    out(`ratekeeper demo: ${options.capacity} messages per ${options.window}, SQLite at ${options.db}`);
    out(`receiver at ${receiver}: the same quota, 429 when it is broken`);
    await manager.start();
    const priorities: Priority[] = ['critical', 'normal', 'optional'];
    const tally: Partial<Record<MessageStatus, number>> = {};
    for (let i = 0; i < options.messages; i++) {
      const priority = priorities[i % 3]!;
      const status = await manager.sendOrEnqueue([{ id: `msg-${i}`, payload: `hello ${i}` }], priority);
      tally[status] = (tally[status] ?? 0) + 1;
      const { remaining, total } = await manager.getQuota();
      out(`${stamp()} msg-${i} ${priority.padEnd(8)} → ${status.padEnd(16)} quota ${remaining}/${total}`);
    }
    out(`offered ${options.messages}: ${JSON.stringify(tally)}`);
    out('draining the queue as quota returns…');
    await manager.stop({ drain: true });
    const stats = await manager.stats();
    const report: DemoReport = {
      delivered: stats.counters.delivered,
      dropped: stats.counters.dropped,
      queued: stats.queued.critical + stats.queued.normal + stats.queued.optional + stats.retrying,
      tooManyRequests: upstream.stats().tooManyRequests,
    };
    out(
      `done: sent ${report.delivered}, queued ${report.queued}, dropped ${report.dropped}, ` +
        `429s received ${report.tooManyRequests}; quota ${stats.quota.remaining}/${stats.quota.total}`,
    );
    out(
      `status of msg-1: ${await manager.getMessageStatus('msg-1')}; of msg-2: ${await manager.getMessageStatus('msg-2')}`,
    );
    return report;
  } finally {
    await manager.stop();
    await backend.close();
    await upstream.close();
  }
}
