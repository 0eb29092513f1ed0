import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backends/memory/index.js';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { FakeClock } from '../../src/core/clock.js';
import { isRateKeeperError } from '../../src/core/errors.js';
import type { Rule } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';
import {
  deletePrefixes,
  hasBinary,
  REDIS_URL,
  RedisServer,
  skipRedis,
  uniquePrefix,
} from '../helpers/redis.js';

const skip = await skipRedis('RedisBackend tests');
/** Round trips are only countable on a server no other test file uses. */
const PRIVATE = hasBinary('redis-server');
const T0 = 1_700_000_040_000;

/** Calls of one command since the last CONFIG RESETSTAT. */
async function calls(client: Redis, command: string): Promise<number> {
  const info = await client.info('commandstats');
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info);
  return match ? Number(match[1]) : 0;
}

describe.skipIf(skip)('RedisBackend', () => {
  /** Round trips are counted on a private server when we can start one, so parallel test files do not count. */
  let server: RedisServer | undefined;
  let url = REDIS_URL;
  let admin: Redis;
  const prefixes: string[] = [];

  beforeAll(async () => {
    if (PRIVATE) {
      server = await RedisServer.start();
      url = server.url;
    }
    admin = new Redis(url);
  });

  afterAll(async () => {
    await deletePrefixes(admin, prefixes);
    admin.disconnect();
    await server?.stop();
  });

  function backend(options: ConstructorParameters<typeof RedisBackend>[0] = {}): RedisBackend {
    const prefix = uniquePrefix('unit');
    prefixes.push(prefix);
    return new RedisBackend({ url, prefix, ...options });
  }

  it.runIf(PRIVATE)(
    'coalesces concurrent decisions: at most one EVALSHA per decision, far fewer under load',
    async () => {
      const b = backend();
      const clock = new FakeClock(T0);
      const limiter = new RateLimiter({
        backend: b,
        clock,
        scopes: { global: { limit: 1_000, window: '1m' }, 'chat:*': { limit: 100, window: '1m' } },
      });
      await limiter.tryAcquire({ scopes: 'warm-up' }); // loads the script (EVAL once)
      await admin.config('RESETSTAT');
      // One decision alone: exactly one round trip.
      await limiter.tryAcquire({ scopes: ['global', 'chat:1'] });
      expect(await calls(admin, 'evalsha')).toBe(1);
      // 128 in flight, 2,000 decisions: each worker issues its next decision as soon as one resolves.
      await admin.config('RESETSTAT');
      let issued = 0;
      let allowed = 0;
      const worker = async () => {
        while (issued < 2_000) {
          issued++;
          const d = await limiter.tryAcquire({ scopes: ['global', `chat:${issued % 20}`] });
          if (d.allowed) allowed++;
        }
      };
      await Promise.all(Array.from({ length: 128 }, worker));
      const evalsha = await calls(admin, 'evalsha');
      expect(await calls(admin, 'eval')).toBe(0);
      expect(evalsha).toBeLessThanOrEqual(2_000 / 32);
      expect(allowed).toBe(999); // global: 1,000 minus the one decided above
      console.log(`round trips: ${evalsha} EVALSHA for 2,000 decisions (128 in flight)`);
      await b.close();
    },
  );

  it.runIf(PRIVATE)(
    'reads a scope’s rule states with one HMGET and writes them with one HSET (Telegram shape: 3 scopes x 2 rules)',
    async () => {
      const b = backend();
      const clock = new FakeClock(T0);
      const rules: Rule[] = [
        { limit: 100, window: '1m', algorithm: 'fixed-window' },
        { limit: 1_000, window: '1h', algorithm: 'fixed-window', name: 'hourly' },
      ];
      const limiter = new RateLimiter({
        backend: b,
        clock,
        scopes: { global: rules, 'bot:*': rules, 'chat:*': rules },
      });
      await limiter.tryAcquire({ scopes: 'warm-up' }); // loads the script (EVAL once)
      for (const chat of ['chat:1', 'chat:2']) {
        // chat:1 creates every state; chat:2 finds global and bot:1 stored and creates its own.
        await admin.config('RESETSTAT');
        const d = await limiter.tryAcquire({ scopes: ['global', 'bot:1', chat] });
        expect(d.allowed).toBe(true);
        expect(await calls(admin, 'hget')).toBe(0);
        expect(await calls(admin, 'hmget')).toBe(3);
        expect(await calls(admin, 'hset')).toBe(3);
      }
      // The states were written where one-rule reads find them: both rules of every scope charged once or twice.
      const stats = await limiter.stats(['global', 'bot:1', 'chat:2']);
      expect(stats.map((s) => [s.scope, s.rule, s.used])).toEqual([
        ['global', 'requests/60000ms', 2],
        ['global', 'hourly', 2],
        ['bot:1', 'requests/60000ms', 2],
        ['bot:1', 'hourly', 2],
        ['chat:2', 'requests/60000ms', 1],
        ['chat:2', 'hourly', 1],
      ]);
      await b.close();
    },
  );

  it.runIf(PRIVATE)(
    'corrections read a scope’s rules with one HMGET; stats of a full sliding-window log read no log range and count only its live sub-windows, as in memory',
    async () => {
      const b = backend();
      const memory = new MemoryBackend();
      const clock = new FakeClock(T0);
      // Two sliding minutes (200 sub-windows of 300 ms), as the LLM profile's RPM and TPM, and a fixed window.
      const rules: Rule[] = [
        { limit: 1_000_000, window: '1m', algorithm: 'sliding-window' },
        { limit: 1_000_000, window: '1m', algorithm: 'sliding-window', unit: 'tokens', name: 'tokens' },
        { limit: 1_000_000, window: '1d', algorithm: 'fixed-window', name: 'day' },
      ];
      const limiters = [b, memory].map(
        (backend) => new RateLimiter({ backend, clock, scopes: { 'm:*': rules } }),
      );
      // A call every 200 ms for a minute and a half: the log is full, its oldest pairs leave it as time goes.
      for (let i = 0; i < 450; i++) {
        await admin.config('RESETSTAT');
        for (const l of limiters)
          await l.adjust({ scopes: 'm:1', delta: { requests: 1, tokens: 1 + (i % 7) } });
        // A correction reads the scope's three rules with one HMGET and writes them with one HSET.
        if (i > 0)
          expect(await Promise.all(['hget', 'hmget', 'hset'].map((c) => calls(admin, c)))).toEqual([0, 1, 1]);
        clock.set(clock.now() + 200);
      }
      // No write since: the head of the stored log holds sub-windows that are no longer counted.
      const last = clock.now();
      for (const later of [0, 1_000, 30_000, 59_000, 61_000]) {
        clock.set(last + later);
        await admin.config('RESETSTAT');
        const stats = await limiters[0]!.stats('m:1');
        expect(await calls(admin, 'lrange'), `${later} ms`).toBe(0);
        expect(stats, `${later} ms`).toEqual(await limiters[1]!.stats('m:1'));
      }
      await b.close();
    },
  );

  it('coalesced decisions keep sequential semantics (in order, each sees those before)', async () => {
    const b = backend();
    const clock = new FakeClock(T0);
    const limiter = new RateLimiter({ backend: b, clock, scopes: { a: { limit: 3, window: '1s' } } });
    const decisions = await Promise.all(Array.from({ length: 5 }, () => limiter.tryAcquire({ scopes: 'a' })));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
    expect(decisions.map((d) => d.remaining)).toEqual([2, 1, 0, 0, 0]);
    const many = await limiter.tryAcquireMany([{ scopes: 'a' }, { scopes: 'b' }]);
    expect(many.map((d) => d.allowed)).toEqual([false, true]);
    await b.close();
  });

  it('a read issued after decisions of the same tick sees their charges (inspect and peek run behind them)', async () => {
    const b = backend();
    const clock = new FakeClock(T0);
    const limiter = new RateLimiter({ backend: b, clock, scopes: { a: { limit: 3, window: '1s' } } });
    // Decisions of a tick are sent on the next tick; a read made after them in program order must not
    // overtake them (the manager's loop reads its quota right behind its decisions).
    const decided = limiter.tryAcquireMany([{ scopes: 'a' }, { scopes: 'a' }]);
    const stats = limiter.stats('a');
    const peeked = limiter.peek({ scopes: 'a', cost: 2 });
    expect((await decided).map((d) => d.allowed)).toEqual([true, true]);
    expect((await stats)[0]!.remaining).toBe(1);
    expect((await peeked).allowed).toBe(false);
    await b.close();
  });
  it('stores doubles exactly and sets TTLs from idleAt, so memory stays bounded', async () => {
    const b = backend({ idleGrace: 1000 });
    const clock = new FakeClock(T0 + 0.1 + 0.2);
    const limiter = new RateLimiter({
      backend: b,
      clock,
      scopes: { tb: { limit: 3, window: 1000, algorithm: 'token-bucket' }, sw: { limit: 10, window: '1m' } },
    });
    await limiter.tryAcquire({ scopes: ['tb', 'sw'] });
    // States are packed little-endian doubles (layout v2).
    const raw = await admin.hgetBuffer(`{${b.prefix}}:l:s2:tb`, 'requests/1000ms');
    expect(raw!.readDoubleLE(0)).toBe(T0 + 0.1 + 0.2 + 1000 / 3);
    const ttlTb = await admin.pttl(`{${b.prefix}}:l:s2:tb`);
    expect(ttlTb).toBeGreaterThan(1000);
    expect(ttlTb).toBeLessThanOrEqual(Math.ceil(1000 / 3) + 1000);
    const ttlSw = await admin.pttl(`{${b.prefix}}:l:s2:sw`);
    expect(ttlSw).toBeGreaterThan(60_000);
    expect(ttlSw).toBeLessThanOrEqual(60_000 + 300 + 1000 + 1);
    // A refund back to idle deletes the state at once.
    await limiter.adjust({ scopes: 'sw', delta: -1 });
    expect(await admin.exists(`{${b.prefix}}:l:s2:sw`)).toBe(0);
    // Ended blocks are removed by the first decision an idle grace after their end (clock skew).
    await limiter.block('x', 50);
    expect(await admin.zcard(`{${b.prefix}}:l:blocks`)).toBe(1);
    await clock.advance(51);
    await limiter.tryAcquire({ scopes: 'sw' });
    expect(await admin.zcard(`{${b.prefix}}:l:blocks`)).toBe(1);
    await clock.advance(1000);
    await limiter.tryAcquire({ scopes: 'sw' });
    expect(await admin.zcard(`{${b.prefix}}:l:blocks`)).toBe(0);
    await b.close();
  });

  it('keeps every key of a namespace in one hash slot, and each queue in its own', async () => {
    const b = backend();
    const limiter = new RateLimiter({
      backend: b,
      clock: new FakeClock(T0),
      scopes: { '*': { limit: 5, window: '1s' } },
    });
    await limiter.tryAcquire({ scopes: ['a', 'b', 'chat:42'] });
    await limiter.block('c', '1s');
    await b
      .queue('q1')
      .add([{ priority: 'normal', lane: '', scopes: [], messages: [{ id: 'm', payload: 1 }] }], T0);
    const keys = await admin.keys(`*{${b.prefix}*`);
    // The slot is a function of the hash tag alone: one tag, one slot.
    const tag = (key: string) => /\{([^}]*)\}/.exec(key)?.[1];
    const limitTags = new Set(keys.filter((k) => !k.includes(':q:')).map(tag));
    const queueTags = new Set(keys.filter((k) => k.includes(':q:q1}')).map(tag));
    expect([...limitTags]).toEqual([b.prefix]);
    expect([...queueTags]).toEqual([`${b.prefix}:q:q1`]);
    expect(keys.length).toBeGreaterThanOrEqual(5);
    await b.close();
  });

  it("never closes a user's client; closes its own", async () => {
    const client = new Redis(url);
    const b = new RedisBackend({ client, prefix: uniquePrefix('own') });
    await b.limits.block(['x'], T0);
    await b.close();
    await b.close();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    const own = backend();
    await own.limits.block(['x'], T0);
    await own.close();
    expect(own.client.status).toBe('end');
  });

  it('rejects bad options with InvalidArgumentError', () => {
    expect(() => new RedisBackend({ prefix: 'a{b}' })).toThrow(/prefix/);
    expect(() => new RedisBackend({ fallback: { share: 0 } })).toThrow(/share/);
    expect(() => new RedisBackend({ maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => new RedisBackend({ client: {} as never })).toThrow(/client/);
    try {
      new RedisBackend({ commandTimeout: 'soon' as never });
    } catch (error) {
      expect(isRateKeeperError(error, 'ERR_INVALID_ARGUMENT')).toBe(true);
    }
  });
});
