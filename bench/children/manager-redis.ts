/**
 * One manager process of the scale-out bench (bench/scale-out.ts): a RateLimitManager on Redis doing the
 * end-to-end workload of bench/lib/end-to-end.ts (offer N while the quota is exhausted, then drain to a
 * no-op sender), started on the parent's signal so that every process runs at the same time.
 *
 * Usage: node --import tsx bench/children/manager-redis.ts CONFIG, CONFIG being JSON
 * `{ url?, nodes?, prefix, name, n }` (`nodes`: Cluster startup nodes, instead of `url`). Warms up on a
 * queue of its own (scripts loaded, JIT), prints `READY`, runs when a line `GO` arrives on stdin, prints
 * `DONE <messages per second>` and exits.
 */
import { createInterface } from 'node:readline';
import { Cluster, Redis } from 'ioredis';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { offerThenDrain } from '../lib/end-to-end.js';

interface Config {
  url?: string;
  nodes?: Array<{ host: string; port: number }>;
  prefix: string;
  name: string;
  n: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as Config;
const client = config.nodes ? new Cluster(config.nodes) : new Redis(config.url ?? 'redis://127.0.0.1:6379');
const backend = new RedisBackend({ client, prefix: config.prefix });
await offerThenDrain(backend, Math.min(config.n, 5_000), `${config.name}-warmup`);
process.stdout.write('READY\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() !== 'GO') continue;
  const rate = await offerThenDrain(backend, config.n, config.name);
  process.stdout.write(`DONE ${rate}\n`);
  break;
}
lines.close();
await backend.close();
client.disconnect();
