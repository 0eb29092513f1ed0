import { RateLimiter, SqliteBackend } from 'ratekeeper';

const backend = new SqliteBackend({ path: './ratekeeper.db' }); // default: new MemoryBackend()
const limiter = new RateLimiter({
  backend,
  scopes: {
    global: { limit: 30, window: '1s' }, // an exact scope key
    'chat:*': [
      // any key starting with "chat:"
      { limit: 1, window: '1s' },
      { limit: 20, window: '1m', name: 'per-minute' },
    ],
    'model:*': { limit: 1_000_000, window: '1m', unit: 'tokens' },
  },
});

// Decide now: { allowed, retryAfterMs, remaining, limit, blockedBy: { scope, rule, unit } | null }
const first = await limiter.tryAcquire({ scopes: ['global', 'chat:42'] });
const second = await limiter.tryAcquire({ scopes: ['global', 'chat:42'] });
console.log(first.allowed, second.allowed, second.blockedBy?.scope, second.retryAfterMs > 0); // true false chat:42 true

// Wait until admitted (here at once): an estimate of 1,000 tokens, corrected to the 812 really used.
const controller = new AbortController(); // abort() gives up the wait, charging nothing
await limiter.acquire(
  { scopes: ['model:gpt-4o'], cost: { requests: 1, tokens: 1_000 } },
  { timeout: '30s', signal: controller.signal },
);
await limiter.adjust({ scopes: 'model:gpt-4o', delta: { tokens: -188 } });

await limiter.block('chat:7', '3s'); // after a 429: every process sharing the backend waits
const blocked = await limiter.tryAcquire({ scopes: 'chat:7' });
console.log(blocked.allowed, blocked.blockedBy?.rule); // false block

for (const s of await limiter.stats(['chat:42', 'model:gpt-4o'])) {
  console.log(s.scope, s.rule, `${s.used}/${s.limit} ${s.unit}`); // per rule: used, remaining, resetMs, blockedMs
}
// chat:42 requests/1000ms 1/1 requests
// chat:42 per-minute 1/20 requests
// model:gpt-4o tokens/60000ms 812/1000000 tokens

await limiter.reset('chat:42'); // or reset() for everything
console.log((await limiter.tryAcquire({ scopes: 'chat:42' })).allowed); // true
await backend.close();
