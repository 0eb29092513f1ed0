import { RateLimiter } from 'ratekeeper';

const limiter = new RateLimiter({
  scopes: {
    workers: { limit: 20, window: '1s' },
    rebalance: { limit: 1, window: '1m' },
    'rebalance-overflow-1': { limit: 1, window: '1m' },
    'rebalance-overflow-2': { limit: 1, window: '1m' },
  },
});
const pool = {
  scopes: 'workers', // always charged
  alternatives: [
    { scopes: 'rebalance' },
    { scopes: 'rebalance-overflow-1' },
    { scopes: 'rebalance-overflow-2' },
  ],
};
for (let i = 0; i < 4; i++) {
  const d = await limiter.tryAcquire(pool);
  // d.alternative: 0 (the primary), or the index of the overflow endpoint it got
  console.log(
    d.allowed ? `admitted on ${d.alternative}` : `refused: retry in ${Math.ceil(d.retryAfterMs / 1000)}s`,
  );
}
