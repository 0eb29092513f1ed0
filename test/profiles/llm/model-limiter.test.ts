/**
 * go-ratelimit's test matrix (TestCanSend, TestPrune, TestRecordUsage, TestReset, TestWaitForCapacity,
 * TestStats/AllStats, SetQuota/AddProvider, default profiles, concurrency) ported to ModelLimiter, run on
 * memory, SQLite and Redis with a FakeClock.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/core/clock.js';
import { isRateKeeperError } from '../../../src/core/errors.js';
import { ModelLimiter, type ModelLimiterOptions } from '../../../src/profiles/llm/model-limiter.js';
import { defaultProfiles } from '../../../src/profiles/llm/quotas.js';
import { backendCases, untilSleeping } from './backends.js';

const MIN = 60_000;
const HOUR = 3_600_000;
/** A start time on a sub-window boundary of the minute (300 ms) and of the day (7.2 min). */
const T0 = 1_800_000_000_000 - (1_800_000_000_000 % 432_000);

for (const backend of await backendCases('ModelLimiter on Redis')) {
  describe.skipIf(backend.skip)(`ModelLimiter on ${backend.name}`, () => {
    const make = (options: ModelLimiterOptions = {}) => {
      const clock = new FakeClock(T0);
      const ml = new ModelLimiter({ backend: backend.make(), clock, ...options });
      return { ml, clock };
    };
    const one = (maxRpm: number, maxTpm: number, maxRpd: number) =>
      make({ quotas: { m: { maxRpm, maxTpm, maxRpd } } });

    describe('canSend / decide', () => {
      it('refuses requests at the RPM limit, not below it', async () => {
        const { ml } = one(10, 0, 0);
        for (let i = 0; i < 9; i++) await ml.recordUsage('m', 1, 1);
        expect(await ml.canSend('m', 0)).toBe(true);
        await ml.recordUsage('m', 1, 1);
        const d = await ml.decide('m', 0);
        expect(d).toMatchObject({ allowed: false, code: 'rpm_exceeded' });
        expect(d.stats).toEqual({ rpm: 10, maxRpm: 10, tpm: 20, maxTpm: 0, rpd: 10, maxRpd: 0 });
        expect(d.retryAfterMs).toBeGreaterThan(MIN - 1);
        expect(d.retryAfterMs).toBeLessThanOrEqual(MIN + 300);
      });

      it('TPM: 90 used + 10 allowed, + 11 refused', async () => {
        const { ml } = one(0, 100, 0);
        await ml.recordUsage('m', 60, 30);
        expect(await ml.decide('m', 10)).toMatchObject({ allowed: true, code: 'ok' });
        const d = await ml.decide('m', 11);
        expect(d).toMatchObject({ allowed: false, code: 'tpm_exceeded' });
        expect(d.reason).toBe('tpm 90 + 11 > max 100');
      });

      it('refuses requests at the RPD limit', async () => {
        const { ml } = one(0, 0, 5);
        for (let i = 0; i < 4; i++) await ml.recordUsage('m', 10, 0);
        expect(await ml.canSend('m', 1000)).toBe(true);
        await ml.recordUsage('m', 10, 0);
        expect(await ml.decide('m', 0)).toMatchObject({ allowed: false, code: 'rpd_exceeded' });
      });

      it('reports RPM before TPM and RPD when several are over (go-ratelimit order)', async () => {
        const { ml } = one(2, 10, 2);
        await ml.recordUsage('m', 5, 5);
        await ml.recordUsage('m', 0, 0);
        expect((await ml.decide('m', 5)).code).toBe('rpm_exceeded');
      });

      it('a zero estimate passes while requests are left; an estimate above TPM never fits', async () => {
        const { ml } = one(5, 100, 0);
        await ml.recordUsage('m', 100, 0);
        expect(await ml.decide('m', 0)).toMatchObject({ allowed: true, code: 'ok' });
        expect(await ml.canSend('m', 1)).toBe(false);
        const never = await make({ quotas: { m: { maxRpm: 5, maxTpm: 100, maxRpd: 0 } } }).ml.decide(
          'm',
          101,
        );
        expect(never).toMatchObject({ allowed: false, code: 'tpm_exceeded', retryAfterMs: Infinity });
      });

      it('a negative or non-finite estimate is invalid_tokens (refused)', async () => {
        const { ml } = one(5, 100, 0);
        expect(await ml.decide('m', -1)).toMatchObject({ allowed: false, code: 'invalid_tokens' });
        expect(await ml.decide('m', Number.NaN)).toMatchObject({ allowed: false, code: 'invalid_tokens' });
        expect(await ml.canSend('m', -5)).toBe(false);
      });

      it('an unknown model is allowed (unknown_model) and its usage still counted', async () => {
        const { ml } = one(1, 1, 1);
        await ml.recordUsage('other', 7, 3);
        await ml.recordUsage('other', 7, 3);
        const d = await ml.decide('other', 1_000_000);
        expect(d).toMatchObject({ allowed: true, code: 'unknown_model' });
        expect(d.stats).toEqual({ rpm: 2, maxRpm: 0, tpm: 20, maxTpm: 0, rpd: 2, maxRpd: 0 });
      });

      it('a quota of all zeros is unlimited, and usage is counted in every dimension', async () => {
        const { ml } = one(0, 0, 0);
        for (let i = 0; i < 200; i++) await ml.recordUsage('m', 1000, 1000);
        const d = await ml.decide('m', 10_000_000);
        expect(d).toMatchObject({ allowed: true, code: 'unlimited' });
        expect(d.stats).toEqual({ rpm: 200, maxRpm: 0, tpm: 400_000, maxTpm: 0, rpd: 200, maxRpd: 0 });
      });

      it('RPM-only and TPM-only quotas leave the other dimension unlimited', async () => {
        const rpmOnly = one(2, 0, 0).ml;
        await rpmOnly.recordUsage('m', 1_000_000, 0);
        expect(await rpmOnly.canSend('m', 1_000_000)).toBe(true);
        const tpmOnly = one(0, 50, 0).ml;
        for (let i = 0; i < 40; i++) await tpmOnly.recordUsage('m', 1, 0);
        expect(await tpmOnly.canSend('m', 10)).toBe(true);
        expect(await tpmOnly.canSend('m', 11)).toBe(false);
      });
    });

    describe('windows (prune)', () => {
      it('an entry stops counting once a minute old (at most one 300 ms sub-window later), not before', async () => {
        const { ml, clock } = one(1, 0, 0);
        await ml.recordUsage('m', 1, 0);
        await clock.advance(MIN - 1);
        expect(await ml.canSend('m')).toBe(false);
        expect((await ml.stats('m')).rpm).toBe(1);
        // go-ratelimit prunes at exactly 60 s; the engine's sliding window counts an entry until the end
        // of its 300 ms sub-window plus the minute: never earlier than 60 s, at most 300 ms later.
        await clock.advance(301);
        expect(await ml.canSend('m')).toBe(true);
        expect((await ml.stats('m')).rpm).toBe(0);
      });

      it('keeps recent entries while pruning old ones', async () => {
        const { ml, clock } = one(0, 1000, 0);
        await ml.recordUsage('m', 100, 0);
        await clock.advance(30_000);
        await ml.recordUsage('m', 200, 0);
        await clock.advance(30_300);
        expect(await ml.stats('m')).toMatchObject({ rpm: 1, tpm: 200, rpd: 2 });
      });

      it('the daily count resets after 25 h but not after 23 h', async () => {
        const { ml, clock } = one(0, 0, 3);
        for (let i = 0; i < 3; i++) await ml.recordUsage('m', 1, 1);
        await clock.advance(23 * HOUR);
        expect(await ml.decide('m')).toMatchObject({ allowed: false, code: 'rpd_exceeded' });
        expect((await ml.stats('m')).rpd).toBe(3);
        await clock.advance(2 * HOUR);
        expect(await ml.decide('m')).toMatchObject({ allowed: true, code: 'ok' });
        expect((await ml.stats('m')).rpd).toBe(0);
      });

      it('the day runs from its first request (day_start): all of its count resets 24 h after it', async () => {
        const { ml, clock } = one(0, 0, 3);
        await ml.recordUsage('m', 1); // day_start
        await clock.advance(23 * HOUR);
        await ml.recordUsage('m', 1);
        await ml.recordUsage('m', 1); // 3 of 3, two of them an hour before the day ends
        await clock.advance(HOUR - 1);
        expect(await ml.decide('m')).toMatchObject({ allowed: false, code: 'rpd_exceeded', retryAfterMs: 1 });
        await clock.advance(1); // 24 h after day_start: a new day, the late two with it
        expect(await ml.decide('m')).toMatchObject({ allowed: true, code: 'ok' });
        expect((await ml.stats('m')).rpd).toBe(0);
        await ml.recordUsage('m', 1); // the new day_start
        await clock.advance(24 * HOUR - 1);
        expect((await ml.stats('m')).rpd).toBe(1);
      });

      it('stats of a model never used are zeros', async () => {
        const { ml } = one(1, 2, 3);
        expect(await ml.stats('m')).toEqual({ rpm: 0, maxRpm: 1, tpm: 0, maxTpm: 2, rpd: 0, maxRpd: 3 });
        expect(await ml.stats('nothing')).toEqual({
          rpm: 0,
          maxRpm: 0,
          tpm: 0,
          maxTpm: 0,
          rpd: 0,
          maxRpd: 0,
        });
      });
    });

    describe('recordUsage', () => {
      it('accumulates requests and prompt + output tokens; rejects negative counts', async () => {
        const { ml } = one(100, 100_000, 1000);
        await ml.recordUsage('m', 100, 50);
        await ml.recordUsage('m', 10, 0);
        expect(await ml.stats('m')).toMatchObject({ rpm: 2, tpm: 160, rpd: 2 });
        await expect(ml.recordUsage('m', -1, 0)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
        await expect(ml.recordUsage('m', 1, -1)).rejects.toMatchObject({ field: 'outputTokens' });
        expect(await ml.stats('m')).toMatchObject({ rpm: 2, tpm: 160 });
      });
    });

    describe('reset', () => {
      it('one model, all models, and a model never used', async () => {
        const { ml } = make({
          quotas: { a: { maxRpm: 5, maxTpm: 0, maxRpd: 0 }, b: { maxRpm: 5, maxTpm: 0, maxRpd: 0 } },
        });
        await ml.recordUsage('a', 1, 1);
        await ml.recordUsage('b', 1, 1);
        await ml.recordUsage('c', 1, 1);
        await ml.reset('a');
        expect((await ml.stats('a')).rpm).toBe(0);
        expect((await ml.stats('b')).rpm).toBe(1);
        await ml.reset('never-used');
        await ml.reset();
        expect(await ml.allStats()).toEqual({
          a: { rpm: 0, maxRpm: 5, tpm: 0, maxTpm: 0, rpd: 0, maxRpd: 0 },
          b: { rpm: 0, maxRpm: 5, tpm: 0, maxTpm: 0, rpd: 0, maxRpd: 0 },
          c: { rpm: 0, maxRpm: 0, tpm: 0, maxTpm: 0, rpd: 0, maxRpd: 0 },
        });
      });
    });

    describe('waitForCapacity', () => {
      it('returns at once with capacity and for an unknown model', async () => {
        const { ml, clock } = one(1, 0, 0);
        expect((await ml.waitForCapacity('m', 10)).allowed).toBe(true);
        expect((await ml.waitForCapacity('unknown', 10)).code).toBe('unknown_model');
        expect(clock.now()).toBe(T0);
      });

      it('wakes exactly when the oldest request leaves the minute, charging nothing', async () => {
        const { ml, clock } = one(1, 0, 0);
        await ml.recordUsage('m', 1, 0);
        const expected = T0 + (await ml.decide('m')).retryAfterMs;
        let wokeAt = 0;
        const waiting = ml.waitForCapacity('m').then((d) => {
          wokeAt = clock.now();
          return d;
        });
        await untilSleeping(clock);
        await clock.advance(MIN - 1);
        expect(wokeAt).toBe(0);
        // Exactly to the time (not past it: on Redis the re-check after waking is a real round trip).
        await clock.advance(expected - clock.now());
        expect((await waiting).allowed).toBe(true);
        expect(wokeAt).toBe(expected);
        expect((await ml.stats('m')).rpm).toBe(0);
      });

      it('rejects on abort (also when already aborted) and on timeout', async () => {
        const { ml, clock } = one(1, 0, 0);
        await ml.recordUsage('m', 1, 0);
        const pre = AbortSignal.abort();
        await expect(ml.waitForCapacity('m', 0, { signal: pre })).rejects.toMatchObject({
          code: 'ERR_ABORTED',
        });
        const controller = new AbortController();
        const waiting = ml.waitForCapacity('m', 0, { signal: controller.signal });
        const caught = waiting.catch((e: unknown) => e);
        await untilSleeping(clock);
        await clock.advance(1000);
        controller.abort();
        expect(isRateKeeperError(await caught, 'ERR_ABORTED')).toBe(true);
        const timed = ml.waitForCapacity('m', 0, { timeout: '10s' }).catch((e: unknown) => e);
        await untilSleeping(clock);
        await clock.advance(10_000);
        expect(isRateKeeperError(await timed, 'ERR_TIMEOUT')).toBe(true);
      });

      it('wakes when the quota is raised, and races recordUsage without losing usage', async () => {
        const { ml, clock } = one(1, 0, 0);
        await ml.recordUsage('m', 1, 0);
        const waiting = ml.waitForCapacity('m');
        await untilSleeping(clock);
        await clock.advance(1000);
        ml.setQuota('m', { maxRpm: 5, maxTpm: 0, maxRpd: 0 });
        await Promise.all([waiting, ml.recordUsage('m', 1, 0), ml.recordUsage('m', 1, 0)]);
        expect(clock.now()).toBe(T0 + 1000);
        expect((await ml.stats('m')).rpm).toBe(3);
      });

      it('an estimate above TPM can never fit: rejects at once', async () => {
        const { ml } = one(0, 10, 0);
        await expect(ml.waitForCapacity('m', 11)).rejects.toMatchObject({
          code: 'ERR_COST_EXCEEDS_CAPACITY',
        });
        await expect(ml.waitForCapacity('m', -1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      });
    });

    describe('quotas', () => {
      it('with no providers and no quotas, the Gemini profile is loaded', async () => {
        const { ml } = make();
        expect(ml.models().sort()).toEqual(Object.keys(defaultProfiles().gemini).sort());
        expect(await ml.stats('gemini-3-pro-preview')).toMatchObject({
          maxRpm: 150,
          maxTpm: 1_000_000,
          maxRpd: 1000,
        });
        expect(await ml.stats('gemini-2.0-flash')).toMatchObject({
          maxRpm: 150,
          maxTpm: 1_000_000,
          maxRpd: 0,
        });
        expect((await ml.decide('gemini-2.0-flash-lite')).code).toBe('unlimited');
        expect((await ml.decide('gpt-4o')).code).toBe('unknown_model');
      });

      it('providers load their profiles; explicit quotas override them', async () => {
        const { ml } = make({
          providers: ['openai', 'anthropic'],
          quotas: { 'gpt-4o': { maxRpm: 1, maxTpm: 2, maxRpd: 3 } },
        });
        expect(ml.quota('gpt-4o')).toEqual({ maxRpm: 1, maxTpm: 2, maxRpd: 3 });
        expect(ml.quota('o3-mini')).toEqual({ maxRpm: 500, maxTpm: 200_000, maxRpd: 0 });
        expect(ml.quota('claude-haiku-3.5')).toEqual({ maxRpm: 50, maxTpm: 50_000, maxRpd: 0 });
        expect((await ml.decide('gemini-2.5-pro')).code).toBe('unknown_model');
        const local = make({ providers: ['local'] }).ml;
        expect(local.models()).toEqual([]);
      });

      it('setQuota and addProvider at run time keep the usage and apply at once', async () => {
        const { ml } = make({ quotas: { 'claude-opus-4': { maxRpm: 100, maxTpm: 0, maxRpd: 0 } } });
        for (let i = 0; i < 50; i++) await ml.recordUsage('claude-opus-4', 10, 10);
        expect(await ml.canSend('claude-opus-4')).toBe(true);
        ml.addProvider('anthropic');
        expect(await ml.decide('claude-opus-4')).toMatchObject({ allowed: false, code: 'rpm_exceeded' });
        ml.setQuota('claude-opus-4', { maxRpm: 51, maxTpm: 0, maxRpd: 0 });
        expect(await ml.canSend('claude-opus-4')).toBe(true);
        expect(() => ml.setQuota('x', { maxRpm: -1, maxTpm: 0, maxRpd: 0 })).toThrow(/quotas\[x\]\.maxRpm/);
        expect(() => ml.addProvider('mistral' as 'local')).toThrow(/provider/);
      });
    });

    describe('reserve and reconcile', () => {
      it('charges the estimate with the admission; commit corrects it to the real usage; release gives back', async () => {
        const { ml } = one(10, 1000, 0);
        const r = await ml.reserve('m', 600);
        expect(await ml.stats('m')).toMatchObject({ rpm: 1, tpm: 600 });
        expect(await ml.canSend('m', 401)).toBe(false);
        expect(await r.commit(150, 50)).toBe(true);
        expect(await ml.stats('m')).toMatchObject({ rpm: 1, tpm: 200 });
        expect(await r.commit(1, 1)).toBe(false);
        const r2 = await ml.reserve('m', 300);
        await r2.release();
        expect(await ml.stats('m')).toMatchObject({ rpm: 1, tpm: 200, rpd: 1 });
        const r3 = await ml.reserve('m', 100);
        await r3.commit(400, 100);
        expect((await ml.stats('m')).tpm).toBe(700);
      });

      it('waits exactly until the estimate fits, first come first served', async () => {
        const { ml, clock } = one(0, 1000, 0);
        await ml.reserve('m', 800);
        const order: string[] = [];
        const a = ml.reserve('m', 500).then(() => order.push(`a@${clock.now() - T0}`));
        const b = ml.reserve('m', 100).then(() => order.push(`b@${clock.now() - T0}`));
        await untilSleeping(clock);
        await clock.advance(MIN + 299);
        expect(order).toEqual([]);
        await clock.advance(1);
        await Promise.all([a, b]);
        expect(order).toEqual(['a@60300', 'b@60300']);
        await expect(ml.reserve('m', 1001)).rejects.toMatchObject({ code: 'ERR_COST_EXCEEDS_CAPACITY' });
      });

      it('a refund at reconcile time frees the capacity in the window of the reservation, not of later usage', async () => {
        const { ml, clock } = one(0, 1000, 0);
        const r = await ml.reserve('m', 800); // t
        await clock.advance(30_000);
        await ml.recordUsage('m', 200); // another call, 30 s later: the minute is full
        expect(await ml.canSend('m', 1)).toBe(false);
        await clock.advance(20_000);
        await r.commit(200, 100); // t + 50 s: 300 used of the 800 reserved
        expect(await ml.stats('m')).toMatchObject({ tpm: 500 });
        expect(await ml.canSend('m', 500)).toBe(true);
        expect(await ml.canSend('m', 501)).toBe(false);
        // One minute after t (and its 300 ms sub-window): the reservation's usage is gone, the other call's stays.
        await clock.advance(10_300);
        expect(await ml.stats('m')).toMatchObject({ tpm: 200 });
        expect(await ml.canSend('m', 801)).toBe(false);
        expect(await ml.canSend('m', 800)).toBe(true);
        // ...until a minute after it.
        await clock.advance(30_000);
        expect(await ml.stats('m')).toMatchObject({ tpm: 0 });
      });

      it('usage above the estimate is charged at the reservation, and leaves the minute with it', async () => {
        const { ml, clock } = one(0, 1000, 0);
        const r = await ml.reserve('m', 100); // t
        await clock.advance(30_000);
        await ml.recordUsage('m', 100);
        await clock.advance(20_000);
        await r.commit(300, 100); // t + 50 s: 400 used, 300 more than reserved
        expect(await ml.stats('m')).toMatchObject({ tpm: 500 });
        await clock.advance(10_300);
        expect(await ml.stats('m')).toMatchObject({ tpm: 100 });
        const late = await ml.reserve('m', 50); // reconciled after its sub-window left the minute
        await clock.advance(MIN + 300);
        await late.release();
        expect(await ml.stats('m')).toMatchObject({ rpm: 0, tpm: 0 });
      });
    });

    it('setQuota and addProvider while callers reserve: every reservation counted once, the limit in force held', async () => {
      const { ml, clock } = make({ quotas: { 'gpt-4o': { maxRpm: 5, maxTpm: 0, maxRpd: 0 } } });
      const reserved: number[] = [];
      const callers = Array.from({ length: 12 }, (_, i) =>
        ml.reserve('gpt-4o', 10).then(async (r) => {
          reserved.push(i);
          await r.commit(5, 5);
        }),
      );
      await untilSleeping(clock);
      // 5 admitted at once; the rest wait. Raise, lower and reload the quota while they wait.
      expect(reserved).toHaveLength(5);
      ml.setQuota('gpt-4o', { maxRpm: 8, maxTpm: 0, maxRpd: 0 });
      ml.addProvider('openai'); // gpt-4o back to 500 RPM: everyone fits
      ml.setQuota('gpt-4o', { maxRpm: 12, maxTpm: 0, maxRpd: 0 });
      await Promise.all(callers);
      expect(reserved.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      expect(await ml.stats('gpt-4o')).toMatchObject({ rpm: 12, maxRpm: 12, tpm: 120, rpd: 12 });
      expect(await ml.decide('gpt-4o')).toMatchObject({ allowed: false, code: 'rpm_exceeded' });
    });

    it('20 concurrent callers x 50 operations never go above any limit', async () => {
      const { ml, clock } = make({
        quotas: { a: { maxRpm: 30, maxTpm: 3000, maxRpd: 200 }, b: { maxRpm: 10, maxTpm: 0, maxRpd: 0 } },
      });
      const admitted = { a: 0, b: 0 };
      let over = 0;
      const caller = async (id: number) => {
        for (let op = 0; op < 50; op++) {
          const model = (id + op) % 3 === 0 ? 'b' : 'a';
          const est = 10 + ((id * 7 + op * 13) % 90);
          const kind = op % 5;
          if (kind === 0) {
            const s = await ml.stats(model);
            if (
              (s.maxRpm > 0 && s.rpm > s.maxRpm) ||
              (s.maxTpm > 0 && s.tpm > s.maxTpm) ||
              (s.maxRpd > 0 && s.rpd > s.maxRpd)
            )
              over++;
          } else if (kind === 1) {
            await ml.canSend(model, est);
          } else {
            const timeout = 5 * MIN;
            const r = await ml.reserve(model, est, { timeout }).catch(() => undefined);
            if (!r) continue;
            admitted[model]++;
            await r.commit(Math.floor(est / 2), Math.floor(est / 4));
          }
        }
      };
      const run = Promise.all(Array.from({ length: 20 }, (_, i) => caller(i)));
      let done = false;
      void run.then(() => {
        done = true;
      });
      // Move time a second at a time so waiting callers get through, checking the limits at every step.
      while (!done) {
        await clock.advance(1000);
        const a = await ml.stats('a');
        if (a.rpm > 30 || a.tpm > 3000 || a.rpd > 200) over++;
        if ((await ml.stats('b')).rpm > 10) over++;
      }
      await run;
      expect(over).toBe(0);
      expect(admitted.a).toBeGreaterThan(0);
      expect(admitted.b).toBeGreaterThan(0);
      expect(admitted.a).toBeLessThanOrEqual(200);
    }, 60_000);
  });
}
