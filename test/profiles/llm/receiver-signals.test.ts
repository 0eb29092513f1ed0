/**
 * Reading what receivers say about their limits (headers and Gemini's 429 body), and limitedFetch on
 * Gemini's REST API: a RetryInfo 429 blocks the model and is retried; a per-day QuotaFailure is not.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../src/core/clock.js';
import { limitedFetch } from '../../../src/profiles/llm/limited-fetch.js';
import { ModelLimiter } from '../../../src/profiles/llm/model-limiter.js';
import {
  parseResetDuration,
  parseRetryAfter,
  readGeminiError,
  readHeaders,
} from '../../../src/profiles/llm/receiver-signals.js';

const gemini429 = (quotaId: string, retryDelay: string, quotaValue = '10') => ({
  error: {
    code: 429,
    message: 'You exceeded your current quota',
    status: 'RESOURCE_EXHAUSTED',
    details: [
      {
        '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
        violations: [
          {
            quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
            quotaId,
            quotaValue,
          },
        ],
      },
      { '@type': 'type.googleapis.com/google.rpc.Help', links: [] },
      { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
    ],
  },
});

describe('receiver signals', () => {
  it('parses OpenAI reset durations', () => {
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(parseResetDuration('12ms')).toBe(12);
    expect(parseResetDuration('23h18m29.144s')).toBe(83_909_144);
    expect(parseResetDuration('1s')).toBe(1000);
    expect(parseResetDuration('0.5s')).toBe(500);
    expect(parseResetDuration('2')).toBe(2000);
    expect(parseResetDuration('soon')).toBeUndefined();
    expect(parseResetDuration('6m junk')).toBeUndefined();
  });

  it('parses retry-after in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-02-19T10:00:00Z');
    expect(parseRetryAfter('35', now)).toBe(35_000);
    expect(parseRetryAfter('Thu, 19 Feb 2026 10:00:20 GMT', now)).toBe(20_000);
    expect(parseRetryAfter('never', now)).toBeUndefined();
  });

  it('reads OpenAI and Anthropic headers', () => {
    const now = Date.parse('2026-02-19T10:00:00Z');
    const openai = readHeaders(
      new Headers({
        'x-ratelimit-limit-requests': '500',
        'x-ratelimit-remaining-requests': '499',
        'x-ratelimit-reset-requests': '120ms',
        'x-ratelimit-limit-tokens': '30000',
        'x-ratelimit-remaining-tokens': '29000',
        'x-ratelimit-reset-tokens': '2s',
      }),
      now,
    );
    expect(openai.requests).toEqual({ limit: 500, remaining: 499, resetMs: 120 });
    expect(openai.tokens).toEqual({ limit: 30_000, remaining: 29_000, resetMs: 2000 });
    const anthropic = readHeaders(
      new Headers({
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': '2026-02-19T10:00:07Z',
        'anthropic-ratelimit-input-tokens-limit': '30000',
        'anthropic-ratelimit-input-tokens-remaining': '100',
        'anthropic-ratelimit-input-tokens-reset': '2026-02-19T10:00:01Z',
        'retry-after': '7',
      }),
      now,
    );
    expect(anthropic.requests).toEqual({ limit: 50, remaining: 0, resetMs: 7000 });
    expect(anthropic.inputTokens).toEqual({ limit: 30_000, remaining: 100, resetMs: 1000 });
    expect(anthropic.retryAfterMs).toBe(7000);
  });

  it("reads Gemini's RetryInfo and QuotaFailure", () => {
    const empty = readHeaders(new Headers(), 0);
    const perMinute = readGeminiError(
      gemini429('GenerateRequestsPerMinutePerProjectPerModel-FreeTier', '26s', '5'),
      empty,
    );
    expect(perMinute.retryAfterMs).toBe(26_000);
    expect(perMinute.perMinute).toEqual({ requests: 5 });
    expect(perMinute.daily).toBeUndefined();
    const perDay = readGeminiError(
      gemini429('GenerateRequestsPerDayPerProjectPerModel-FreeTier', '3.5s', '50'),
      empty,
    );
    expect(perDay.daily).toEqual({ quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier', limit: 50 });
    expect(perDay.retryAfterMs).toBe(3500);
    expect(readGeminiError({ nothing: true }, empty)).toEqual(empty);
  });
});

describe('limitedFetch on the Gemini REST API', () => {
  let server: Server;
  let url: string;
  const plan: Array<'minute' | 'day' | 'ok'> = [];
  let calls = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        calls++;
        const next = plan.shift() ?? 'ok';
        res.writeHead(next === 'ok' ? 200 : 429, { 'content-type': 'application/json' });
        if (next === 'minute')
          return res.end(JSON.stringify(gemini429('GenerateRequestsPerMinutePerProjectPerModel', '2s', '7')));
        if (next === 'day')
          return res.end(JSON.stringify(gemini429('GenerateRequestsPerDayPerProjectPerModel', '40s', '50')));
        res.end(
          JSON.stringify({
            candidates: [],
            usageMetadata: { promptTokenCount: 9, candidatesTokenCount: 3, totalTokenCount: 12 },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1beta/models/gemini-2.5-pro:generateContent`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });
  const body = JSON.stringify({
    contents: [{ role: 'user', parts: [{ text: 'hello there' }] }],
    generationConfig: { maxOutputTokens: 50 },
  });

  it('a per-minute 429 blocks the model for its retryDelay, then the call is retried and reconciled', async () => {
    const clock = new FakeClock(Date.parse('2026-02-19T10:00:00Z'));
    const ml = new ModelLimiter({ clock });
    const f = limitedFetch({ limiter: ml });
    plan.push('minute');
    calls = 0;
    const pending = f(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    while (calls < 1 || clock.pending < 1) await new Promise((r) => setTimeout(r, 2));
    expect(await ml.decide('gemini-2.5-pro')).toMatchObject({
      allowed: false,
      code: 'blocked',
      retryAfterMs: 2000,
    });
    expect(ml.quota('gemini-2.5-pro').maxRpm).toBe(7);
    await clock.advance(2000);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(calls).toBe(2);
    expect(await ml.stats('gemini-2.5-pro')).toMatchObject({ rpm: 1, tpm: 12 });
  });

  it('a per-day quota failure is returned as it came, not retried; the daily limit tightens', async () => {
    const ml = new ModelLimiter({ clock: new FakeClock(Date.parse('2026-02-19T10:00:00Z')) });
    const f = limitedFetch({ limiter: ml });
    plan.push('day');
    calls = 0;
    const res = await f(url, { method: 'POST', body });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { error: { status: string } }).error.status).toBe('RESOURCE_EXHAUSTED');
    expect(calls).toBe(1);
    expect(ml.quota('gemini-2.5-pro').maxRpd).toBe(50);
    expect((await ml.decide('gemini-2.5-pro')).code).toBe('blocked');
  });

  it('passes through what is not a JSON call naming a model', async () => {
    const ml = new ModelLimiter();
    const f = limitedFetch({ limiter: ml });
    calls = 0;
    const res = await f(url.replace('/models/gemini-2.5-pro:generateContent', '/other'), {
      method: 'POST',
      body: 'not json',
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect((await ml.stats('gemini-2.5-pro')).rpm).toBe(0);
    expect(calls).toBe(1);
  });
});
