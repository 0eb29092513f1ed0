/**
 * A million keys (IDLE_KEYS) decided once each on a memory limiter (1 s fixed window, a clock this script
 * moves), then left idle: once their windows and the idle grace have passed, decisions on one other key drive
 * the sweeps until the store holds that key alone. Then the process idles (timers only, a GC every 250 ms, up to
 * 8 s) until its RSS is back within 20 % of the baseline: V8 gives freed pages back to the OS only when its memory
 * reducer runs, which a busy synchronous loop never lets it do (right after the sweeps RSS is still ~500 MB; ~3 s
 * of idling later it is back at the baseline). Prints one sentence with the heap and RSS at each step.
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
let idleMs = 0;
let settled = after;
while (settled.rss > baseline.rss * 1.2 && idleMs < 8000) {
  await new Promise((resolve) => setTimeout(resolve, 250));
  idleMs += 250;
  gc();
  settled = process.memoryUsage();
}
console.log(
  `Memory, ${keys} idle-then-expired (a fresh process; one decision each, then idle past window + grace, ` +
    `sweeps driven by ${ops} decisions on one key): heap ${mb(baseline.heapUsed)} → ${mb(full.heapUsed)} ` +
    `holding ${held} states → ${mb(after.heapUsed)} holding ${store.size}; RSS ${mb(baseline.rss)} → ` +
    `${mb(full.rss)} → ${mb(after.rss)} right after the sweeps → ${mb(settled.rss)} after ${(idleMs / 1000).toFixed(2)} s ` +
    `idle (V8 returns freed pages when its memory reducer runs).`,
);
