/**
 * Queues 1,000,000 messages through `sendOrEnqueue` on a SQLite file while the quota is exhausted, in a
 * fresh process so that its RSS is the manager's alone. Prints `{ rssMb, peakRssMb, seconds }` as JSON.
 * Usage: node --import tsx bench/children/million.ts <db path>
 */
import { SqliteBackend } from '../../src/backends/sqlite/index.js';
import { RateLimitManager } from '../../src/manager/manager.js';

const total = 1_000_000;
const backend = new SqliteBackend({ path: process.argv[2]! });
const manager = new RateLimitManager<string>({
  backend,
  capacity: 10_000_000,
  duration: '1h',
  sender: () => {},
});
await manager.limiter.adjust({ scopes: manager.scope, delta: 10_000_000 });
let peak = 0;
const start = Date.now();
for (let i = 0; i < total; i += 1_000) {
  const offers: Array<Promise<unknown>> = [];
  for (let j = i; j < i + 1_000; j++) {
    offers.push(manager.sendOrEnqueue([{ id: `q${j}`, payload: `message ${j}` }], 'normal'));
  }
  await Promise.all(offers);
  if (i % 50_000 === 0) peak = Math.max(peak, process.memoryUsage().rss);
}
const stats = await manager.stats();
if (stats.queued.normal !== total) throw new Error(`expected ${total} queued, got ${stats.queued.normal}`);
const rss = process.memoryUsage().rss;
peak = Math.max(peak, rss);
await backend.close();
process.stdout.write(
  `${JSON.stringify({ rssMb: rss / 2 ** 20, peakRssMb: peak / 2 ** 20, seconds: (Date.now() - start) / 1000 })}\n`,
);
