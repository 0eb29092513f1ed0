import { ModelLimiter } from 'ratekeeper'; // or from 'ratekeeper/llm'
import { countGeminiTokens, estimateTokens, importGoState, limitedFetch } from 'ratekeeper/llm';

const ml = new ModelLimiter({
  providers: ['openai'], // default quotas; none and no quotas → Gemini
  quotas: { 'my-model': { maxRpm: 10, maxTpm: 0, maxRpd: 100 } }, // override / add (0 = unlimited)
  backend, // memory (default) | SQLite | Redis
  clock, // default the wall clock
  // prefix: 'llm:'                                        // scope of a model: `llm:${model}`
  // windows: { minute: '1m', day: '1d' }
  // limiter: an existing RateLimiter to share (its backend and clock)
});

await ml.canSend('gpt-4o', 1200); // boolean, charges nothing
await ml.decide('gpt-4o', 1200); // { allowed, code, reason, retryAfterMs, stats }
await ml.recordUsage('gpt-4o', 900, 250); // a call made: 1 request, 1150 tokens (never refused)
await ml.waitForCapacity('gpt-4o', 1200, { signal, timeout: '30s' }); // until decide would allow; charges nothing
await ml.stats('gpt-4o'); // { rpm, maxRpm, tpm, maxTpm, rpd, maxRpd }
await ml.allStats(); // Record<model, stats>
await ml.reset('gpt-4o');
await ml.reset(); // one model; every model this instance knows
ml.setQuota('gpt-4o', { maxRpm: 500, maxTpm: 30_000, maxRpd: 0 });
ml.addProvider('anthropic');
await ml.block('gpt-4o', '20s'); // after a 429: everyone sharing the backend waits
