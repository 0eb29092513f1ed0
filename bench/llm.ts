/**
 * The LLM profile: `ModelLimiter.decide` + `recordUsage` (go-ratelimit's check-then-record loop) on memory
 * and Redis against rate-limiter-flexible limiting the same three dimensions (RPM and RPD through a
 * `RateLimiterUnion`, TPM through a third limiter consumed by the call's tokens, all awaited together),
 * and `limitedFetch`'s overhead per call against bare `fetch` to a local mock answering a chat completion.
 * Limits are high (nearly every call admitted) so both sides measure admissions; 100 models in turn.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterRedis,
  RateLimiterUnion,
} from 'rate-limiter-flexible';
import { MemoryBackend } from '../src/backends/memory/index.js';
import { RedisBackend } from '../src/backends/redis/index.js';
import type { Backend } from '../src/backends/types.js';
import { limitedFetch } from '../src/profiles/llm/limited-fetch.js';
import { ModelLimiter } from '../src/profiles/llm/model-limiter.js';
import { type BenchRow, duel } from './harness.js';
import { deleteMatching, REDIS_URL, reachable } from './lib/redis.js';

const MODELS = Array.from({ length: 100 }, (_, i) => `model-${i}`);
const BIG = 1_000_000_000;
const TOKENS = 800;
const PEER = 'rate-limiter-flexible RateLimiterUnion(RPM, RPD) + TPM limiter';

function ourLoop(ml: ModelLimiter, check: 'decide' | 'canSend'): (n: number) => Promise<void> {
  return check === 'decide'
    ? async (n) => {
        for (let i = 0; i < n; i++) {
          const model = MODELS[i % MODELS.length]!;
          if ((await ml.decide(model, TOKENS)).allowed) await ml.recordUsage(model, TOKENS - 100, 100);
        }
      }
    : async (n) => {
        for (let i = 0; i < n; i++) {
          const model = MODELS[i % MODELS.length]!;
          if (await ml.canSend(model, TOKENS)) await ml.recordUsage(model, TOKENS - 100, 100);
        }
      };
}

function theirLoop(union: RateLimiterUnion, tpm: RateLimiterAbstract): (n: number) => Promise<void> {
  return async (n) => {
    for (let i = 0; i < n; i++) {
      const model = MODELS[i % MODELS.length]!;
      await Promise.all([union.consume(model, 1), tpm.consume(model, TOKENS)]);
    }
  };
}

function quotas() {
  return Object.fromEntries(MODELS.map((m) => [m, { maxRpm: BIG, maxTpm: BIG * 100, maxRpd: BIG }]));
}

async function limiterRow(
  name: string,
  backend: Backend,
  peer: (kind: string, points: number, duration: number) => RateLimiterAbstract,
  check: 'decide' | 'canSend',
) {
  const ml = new ModelLimiter({ backend, quotas: quotas() });
  const union = new RateLimiterUnion(peer('rpm', BIG, 60), peer('rpd', BIG, 86_400));
  const tpm = peer('tpm', BIG * 100, 60);
  const result = await duel(ourLoop(ml, check), theirLoop(union, tpm), { warmupMs: 500 });
  return {
    name: `llm ${name}: ${check} + recordUsage, 3 dimensions, 100 models`,
    ours: result.ours,
    peer: PEER,
    theirs: result.theirs,
    unit: 'calls',
    target: 1,
    note:
      `ours: ${check === 'decide' ? 'decide (one read of the 3 rules: usage per rule for the stats it answers; the engine asked only on a refusal)' : 'canSend (one engine peek of the 3 rules)'} then recordUsage (one adjust) per call, every call awaited; ` +
      `peer: one consume on each of its 3 limiters (RPM and RPD in a RateLimiterUnion, TPM by ${TOKENS} points), awaited together. ` +
      'Ours keeps sliding windows (the peer fixed windows) and answers a code, a reason and stats per check.',
  } satisfies BenchRow;
}

async function memoryRows(): Promise<BenchRow[]> {
  const peer = (_kind: string, points: number, duration: number) =>
    new RateLimiterMemory({ points, duration });
  return [
    await limiterRow('memory', new MemoryBackend(), peer, 'decide'),
    await limiterRow('memory', new MemoryBackend(), peer, 'canSend'),
  ];
}

async function redisRow(): Promise<BenchRow> {
  const name = 'llm redis: decide + recordUsage, 3 dimensions, 100 models';
  if (!(await reachable())) {
    return {
      name,
      ours: Number.NaN,
      peer: PEER,
      theirs: Number.NaN,
      unit: 'calls',
      target: 1,
      pending: `no Redis at ${REDIS_URL}`,
    };
  }
  const tag = `${process.pid}-${Date.now().toString(36)}`;
  const ourClient = new Redis(REDIS_URL);
  const theirClient = new Redis(REDIS_URL);
  const backend = new RedisBackend({ client: ourClient, prefix: `rkbench-llm-${tag}` });
  try {
    return await limiterRow(
      'redis',
      backend,
      (kind, points, duration) =>
        new RateLimiterRedis({
          storeClient: theirClient,
          keyPrefix: `rkbench-llm-rlf-${tag}-${kind}`,
          points,
          duration,
        }),
      'decide',
    );
  } finally {
    await backend.close();
    await deleteMatching(ourClient, `{rkbench-llm-${tag}}*`);
    await deleteMatching(theirClient, `rkbench-llm-rlf-${tag}*`);
    ourClient.disconnect();
    theirClient.disconnect();
  }
}

async function fetchRow(): Promise<BenchRow> {
  const answer = JSON.stringify({
    id: 'x',
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 },
  });
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-ratelimit-limit-requests': String(BIG) });
      res.end(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`;
  const body = JSON.stringify({
    model: 'gpt-4o',
    max_tokens: 16,
    messages: [{ role: 'user', content: 'Say ok, please.' }],
  });
  const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
  const ml = new ModelLimiter({ quotas: { 'gpt-4o': { maxRpm: BIG, maxTpm: BIG * 100, maxRpd: 0 } } });
  const limited = limitedFetch({ limiter: ml });
  const loop = (f: typeof fetch) => async (n: number) => {
    for (let i = 0; i < n; i++) await (await f(url, init)).json();
  };
  // The same calls answered in process (a Response built per call, no socket): what limitedFetch adds per
  // call without the HTTP round trip whose timing, on a loaded machine, varies more than that.
  const local = (async () =>
    new Response(answer, {
      headers: { 'content-type': 'application/json', 'x-ratelimit-limit-requests': String(BIG) },
    })) as typeof fetch;
  const localMl = new ModelLimiter({ quotas: { 'gpt-4o': { maxRpm: BIG, maxTpm: BIG * 100, maxRpd: 0 } } });
  const limitedLocal = limitedFetch({ limiter: localMl, fetch: local });
  try {
    // The tokenizer's ranks load on the first call (megabytes): before the duel, not inside its warm-up.
    await loop(limitedLocal)(200);
    await loop(local)(200);
    const inProcess = await duel(loop(limitedLocal), loop(local), { warmupMs: 800 });
    const result = await duel(loop(limited), loop(fetch), { warmupMs: 800 });
    return {
      name: 'llm limitedFetch: one chat call to a local mock, sequential',
      ours: result.ours,
      peer: 'bare fetch (same server, same body)',
      theirs: result.theirs,
      unit: 'calls',
      // Issue 9: at most 5 % overhead per call against the bare fetch.
      target: 0.95,
      note:
        'limitedFetch parses the body, counts the prompt with gpt-tokenizer, reserves, sends, reads the headers in one pass, ' +
        'reads the answer once (no clone: the same Response is handed back with its text, the JSON parsed once) and commits; ' +
        `per-call overhead ≈ ${((1 / result.ours - 1 / result.theirs) * 1e6).toFixed(0)} µs; ` +
        `answered in process (no socket, same body and answer): ${(inProcess.ours / 1000).toFixed(1)}k vs ${(inProcess.theirs / 1000).toFixed(1)}k calls/s, ` +
        `≈ ${((1 / inProcess.ours - 1 / inProcess.theirs) * 1e6).toFixed(0)} µs added per call`,
    };
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

export default async function run(): Promise<BenchRow[]> {
  return [...(await memoryRows()), await redisRow(), await fetchRow()];
}
