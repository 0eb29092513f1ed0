import { MemoryBackend, RateLimiter, RedisBackend, SqliteBackend } from 'ratekeeper';

const memory = new MemoryBackend(); // default; one process, nothing persisted
const sqlite = new SqliteBackend({ path: './ratekeeper.db' }); // or { database }: an open better-sqlite3 Database
const redis = new RedisBackend({
  url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  prefix: 'rk-example',
}); // or { client }: your ioredis Redis or Cluster

// The same limiter on each: a backend holds the limit state (and the manager's queues).
for (const backend of [memory, sqlite, redis]) {
  const limiter = new RateLimiter({ backend, scopes: { 'chat:*': { limit: 1, window: '1s' } } });
  await limiter.reset('chat:42');
  const [first, second] = await limiter.tryAcquireMany([{ scopes: 'chat:42' }, { scopes: 'chat:42' }]);
  console.log(backend.kind, first?.allowed, second?.allowed); // memory true false, sqlite true false, redis true false
  await limiter.reset('chat:42');
  await backend.close();
}
