/**
 * A million keys (IDLE_KEYS) decided once each on a memory limiter (1 s fixed window, a clock this script
 * moves), then left idle: once their windows and the idle grace have passed, decisions on one other key drive
 * the sweeps until the store holds that key alone. Prints one sentence with the heap and RSS at each step.
 * Usage: node --expose-gc --import tsx bench/children/idle-keys.ts
 */
import { MemoryBackend } from '../../src/backends/memory/index.js';
import type { MemoryLimitStore } from '../../src/backends/memory/limit-store.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

const count = Number(process.env.IDLE_KEYS ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;
const keys = count >= 1e6 ? `${count / 1e6}M keys` : `${count / 1000}k keys`;

let now = 1_700_000_000_000;
const backend = new MemoryBackend();
const limiter = new RateLimiter({
  backend,
  clock: { now: () => now },
  scopes: { 'chat:*': { limit: 10, window: 1000, algorithm: 'fixed-window' } },
});
const store = backend.limits as MemoryLimitStore;
limiter.tryAcquireSync({ scopes: 'chat:hot' });
gc();
const baseline = process.memoryUsage();
for (let i = 0; i < count; i++) limiter.tryAcquireSync({ scopes: `chat:${i}` });
gc();
const full = process.memoryUsage();
const held = store.size;
now += 5000;
let ops = 0;
while (store.size > 1 && ops < 50 * count) {
  limiter.tryAcquireSync({ scopes: 'chat:hot' });
  ops++;
}
gc();
const after = process.memoryUsage();
console.log(
  `Memory, ${keys} idle-then-expired (a fresh process; one decision each, then idle past window + grace, ` +
    `sweeps driven by ${ops} decisions on one key): heap ${mb(baseline.heapUsed)} → ${mb(full.heapUsed)} ` +
    `holding ${held} states → ${mb(after.heapUsed)} holding ${store.size}; RSS ${mb(baseline.rss)} → ` +
    `${mb(full.rss)} → ${mb(after.rss)} (V8 keeps freed pages for reuse).`,
);
