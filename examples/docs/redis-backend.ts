import { RateLimiter, RedisBackend } from 'ratekeeper';

const backend = new RedisBackend({ url: 'redis://127.0.0.1:6379', prefix: 'rk' });
// or: new RedisBackend({ client: myRedisOrCluster, prefix: 'rk' })   — your client is never closed
const limiter = new RateLimiter({ backend, scopes: { global: { limit: 30, window: '1s' } } });
console.log(backend.health); // { mode: 'redis', fallbacks: 0, recoveries: 0, lastError: null } ('fallback' while Redis is down)
await backend.close();
