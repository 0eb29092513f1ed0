import { SqliteBackend } from '../backends/sqlite/index.js';
import type { MessageStatus, Priority } from '../backends/types.js';
import { RateLimitManager } from '../manager/manager.js';

export interface DemoOptions {
  db: string;
  capacity: number;
  window: string;
  messages: number;
  out?: (line: string) => void;
}

/**
 * Shows the manager at work on the embedded default (SQLite in the working directory): a burst of mixed
 * priorities against a small quota, then the background loop draining the queue as quota returns.
 */
export async function runDemo(options: DemoOptions): Promise<void> {
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
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
    },
  });
  try {
    out(`ratekeeper demo: ${options.capacity} messages per ${options.window}, SQLite at ${options.db}`);
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
    out(
      `done: ${stats.counters.delivered} delivered, ${stats.counters.dropped} dropped, quota ${stats.quota.remaining}/${stats.quota.total}`,
    );
    out(
      `status of msg-1: ${await manager.getMessageStatus('msg-1')}; of msg-2: ${await manager.getMessageStatus('msg-2')}`,
    );
  } finally {
    await manager.stop();
    await backend.close();
  }
}
