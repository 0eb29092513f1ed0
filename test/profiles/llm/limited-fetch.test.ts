/**
 * limitedFetch with the real `openai` and `@anthropic-ai/sdk` clients over real HTTP against local mock APIs
 * that enforce RPM and TPM over 1 s windows, the limiter's minute set to the same 1 s. The limiter and the
 * mock share one clock (an AutoClock, test/fixtures/auto-clock.ts) that stands still while a request is on
 * the network and jumps to the next sleeper when nothing is: the mock counts a call at exactly the instant
 * the limiter admitted it, so the limits are compared as configured (no margin for latency), the total time
 * is what the limiter's waits add up to, and a run of seconds of clock time takes milliseconds.
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { limitedFetch } from '../../../src/profiles/llm/limited-fetch.js';
import { ModelLimiter } from '../../../src/profiles/llm/model-limiter.js';
import { AutoClock } from '../../fixtures/auto-clock.js';
import { MockLlm, type MockLlmOptions } from './mock-llm.js';

let mock: MockLlm | undefined;
afterEach(async () => {
  await mock?.close();
  mock = undefined;
});

const T0 = 1_700_000_000_000;

/**
 * A fetch that holds the clock while a call is on the network, and counts the calls started and how many had
 * started when the first answer came back.
 */
function countingFetch(clock: AutoClock) {
  const counts = { started: 0, atFirstAnswer: -1 };
  const inner: typeof fetch = (input, init) =>
    clock.hold(async () => {
      counts.started++;
      const response = await fetch(input, init);
      if (counts.atFirstAnswer < 0) counts.atFirstAnswer = counts.started;
      return response;
    });
  return { counts, inner };
}

async function setup(options: MockLlmOptions, model: string, configured: { maxRpm: number; maxTpm: number }) {
  const clock = new AutoClock(T0);
  mock = await MockLlm.start({ ...options, now: clock.now });
  const ml = new ModelLimiter({
    quotas: { [model]: { ...configured, maxRpd: 0 } },
    windows: { minute: options.windowMs },
    clock,
  });
  const { counts, inner } = countingFetch(clock);
  const events: string[] = [];
  const f = limitedFetch({ limiter: ml, fetch: inner, maxRetries: 5, onEvent: (e) => events.push(e.type) });
  return { ml, f, counts, events, mock, clock };
}

/**
 * The least time from the first call's arrival to the last's that the mock's limits allow for `calls`
 * calls of the tokens it counted: at most `rpm` calls and `tpm` tokens in any window.
 */
function minimumMs(m: MockLlm, calls: number): number {
  const { rpm, tpm, windowMs } = m.options;
  const perCall = Math.max(...m.log.map((e) => e.tokens));
  const perWindow = Math.min(rpm, Math.floor(tpm / perCall));
  return Math.floor((calls - 1) / perWindow) * windowMs;
}

/** Runs `calls` on the clock; asserts no 429 and a total time within 10 % of the minimum (printed). */
async function withinMinimum<T>(
  clock: AutoClock,
  name: string,
  calls: Array<() => Promise<T>>,
): Promise<T[]> {
  const start = clock.now();
  const answers = await clock.drive(Promise.all(calls.map((call) => call())));
  const elapsed = clock.now() - start;
  const minimum = minimumMs(mock!, calls.length);
  console.log(
    `${name}: ${calls.length} calls in ${elapsed} ms of clock time; the limits' minimum ${minimum} ms; ` +
      `ratio ${(elapsed / minimum).toFixed(3)} (bound 1.1); 429s ${mock!.refused}`,
  );
  expect(mock!.refused).toBe(0);
  expect(elapsed).toBeGreaterThanOrEqual(minimum);
  expect(elapsed).toBeLessThanOrEqual(minimum * 1.1);
  return answers;
}

const ask = (i: number) => [{ role: 'user' as const, content: `question number ${i}: say ok` }];

describe('limitedFetch with the OpenAI SDK', () => {
  it('reconciles the reservation to the usage the answer reports', async () => {
    const { ml, f } = await setup({ flavor: 'openai', rpm: 100, tpm: 100_000, windowMs: 1000 }, 'gpt-4o', {
      maxRpm: 100,
      maxTpm: 100_000,
    });
    const client = new OpenAI({ apiKey: 'test', baseURL: mock!.baseUrl, fetch: f, maxRetries: 0 });
    const res = await client.chat.completions.create({ model: 'gpt-4o', messages: ask(1), max_tokens: 500 });
    expect(res.choices[0]!.message.content).toBe('ok');
    expect(await ml.stats('gpt-4o')).toMatchObject({ rpm: 1, tpm: res.usage!.total_tokens });
  });

  it('quota configured as enforced: every call answered, no 429, within 10 % of the minimum time', async () => {
    const { f, clock } = await setup({ flavor: 'openai', rpm: 4, tpm: 400, windowMs: 1000 }, 'gpt-4o', {
      maxRpm: 4,
      maxTpm: 400,
    });
    const client = new OpenAI({ apiKey: 'test', baseURL: mock!.baseUrl, fetch: f, maxRetries: 0 });
    const answers = await withinMinimum(
      clock,
      'openai, configured as enforced',
      Array.from(
        { length: 10 },
        (_, i) => () => client.chat.completions.create({ model: 'gpt-4o', messages: ask(i), max_tokens: 20 }),
      ),
    );
    expect(answers).toHaveLength(10);
    expect(mock!.refused).toBe(0);
    expect(mock!.statuses[200]).toBe(10);
  }, 30_000);

  it('receiver quota lower than configured: all answered, 429s bounded by the calls in flight at the first answer', async () => {
    const { ml, f, counts, events, clock } = await setup(
      { flavor: 'openai', rpm: 3, tpm: 100_000, windowMs: 1000 },
      'gpt-4o',
      { maxRpm: 30, maxTpm: 100_000 },
    );
    const client = new OpenAI({ apiKey: 'test', baseURL: mock!.baseUrl, fetch: f, maxRetries: 0 });
    const answers = await clock.drive(
      Promise.all(
        Array.from({ length: 9 }, (_, i) =>
          client.chat.completions.create({ model: 'gpt-4o', messages: ask(i), max_tokens: 20 }),
        ),
      ),
    );
    expect(answers).toHaveLength(9);
    expect(mock!.statuses[200]).toBe(9);
    expect(mock!.refused).toBeGreaterThan(0);
    expect(mock!.refused).toBeLessThanOrEqual(counts.atFirstAnswer);
    expect(ml.quota('gpt-4o').maxRpm).toBe(3);
    expect(events).toContain('tightened');
  }, 30_000);
});

describe('limitedFetch with streamed answers', () => {
  it('OpenAI: the usage chunk settles the reservation when the stream ends; without it the estimate stays', async () => {
    const { ml, f } = await setup({ flavor: 'openai', rpm: 100, tpm: 100_000, windowMs: 1000 }, 'gpt-4o', {
      maxRpm: 100,
      maxTpm: 100_000,
    });
    const client = new OpenAI({ apiKey: 'test', baseURL: mock!.baseUrl, fetch: f, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: ask(1),
      max_tokens: 500,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let total = 0;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) total = chunk.usage.total_tokens;
    }
    expect(text).toBe('ok');
    await waitUntil(async () => (await ml.stats('gpt-4o')).tpm === total);
    const before = (await ml.stats('gpt-4o')).tpm;
    const bare = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: ask(2),
      max_tokens: 300,
      stream: true,
    });
    for await (const _ of bare) {
      // drain
    }
    await new Promise((r) => setTimeout(r, 50));
    expect((await ml.stats('gpt-4o')).tpm - before).toBeGreaterThan(300); // the estimate: prompt + max_tokens
  });

  it('Anthropic: message_start and message_delta settle the reservation', async () => {
    const { ml, f } = await setup(
      { flavor: 'anthropic', rpm: 100, tpm: 100_000, windowMs: 1000 },
      'claude-sonnet-4',
      { maxRpm: 100, maxTpm: 100_000 },
    );
    const client = new Anthropic({ apiKey: 'test', baseURL: mock!.baseUrl, fetch: f, maxRetries: 0 });
    const stream = await client.messages.create({
      model: 'claude-sonnet-4',
      max_tokens: 800,
      messages: ask(1),
      stream: true,
    });
    let input = 0;
    let output = 0;
    for await (const event of stream) {
      if (event.type === 'message_start') input = event.message.usage.input_tokens;
      if (event.type === 'message_delta') output = event.usage.output_tokens;
    }
    expect(output).toBe(12);
    await waitUntil(async () => (await ml.stats('claude-sonnet-4')).tpm === input + output);
  });
});

async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met within 5s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('limitedFetch with the Anthropic SDK', () => {
  it('quota configured as enforced: every call answered, no 429, within 10 % of the minimum; usage reconciled', async () => {
    const { ml, f, clock } = await setup(
      { flavor: 'anthropic', rpm: 4, tpm: 100_000, windowMs: 1000 },
      'claude-sonnet-4',
      { maxRpm: 4, maxTpm: 100_000 },
    );
    const client = new Anthropic({ apiKey: 'test', baseURL: mock!.baseUrl, fetch: f, maxRetries: 0 });
    const answers = await withinMinimum(
      clock,
      'anthropic, configured as enforced',
      Array.from(
        { length: 8 },
        (_, i) => () =>
          client.messages.create({ model: 'claude-sonnet-4', max_tokens: 20, messages: ask(i) }),
      ),
    );
    expect(answers.every((a) => a.content[0]?.type === 'text')).toBe(true);
    expect(mock!.refused).toBe(0);
    const one = await clock.drive(
      client.messages.create({ model: 'claude-sonnet-4', max_tokens: 900, messages: ask(99) }),
    );
    const stats = await ml.stats('claude-sonnet-4');
    expect(stats.tpm).toBeLessThan(9 * (one.usage.input_tokens + one.usage.output_tokens) + 1);
  }, 30_000);

  it('receiver TPM lower than configured: all answered, 429s bounded by the calls in flight at the first answer', async () => {
    const { ml, f, counts, clock } = await setup(
      { flavor: 'anthropic', rpm: 1000, tpm: 90, windowMs: 1000 },
      'claude-sonnet-4',
      { maxRpm: 1000, maxTpm: 40_000 },
    );
    const client = new Anthropic({ apiKey: 'test', baseURL: mock!.baseUrl, fetch: f, maxRetries: 0 });
    const answers = await clock.drive(
      Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          client.messages.create({ model: 'claude-sonnet-4', max_tokens: 12, messages: ask(i) }),
        ),
      ),
    );
    expect(answers).toHaveLength(8);
    expect(mock!.statuses[200]).toBe(8);
    expect(mock!.refused).toBeGreaterThan(0);
    expect(mock!.refused).toBeLessThanOrEqual(counts.atFirstAnswer);
    expect(ml.quota('claude-sonnet-4').maxTpm).toBe(90);
  }, 30_000);
});

describe('limitedFetch hands back the answer it read', () => {
  it('json, text, blob, arrayBuffer, body and bodyUsed answer from the body read once; status and headers kept', async () => {
    const answer = JSON.stringify({ usage: { prompt_tokens: 3, completion_tokens: 2 }, said: 'yes' });
    const send = (async () =>
      new Response(answer, {
        status: 200,
        headers: { 'content-type': 'application/json', 'x-test': '1' },
      })) as typeof fetch;
    const ml = new ModelLimiter({ quotas: { 'gpt-4o': { maxRpm: 10, maxTpm: 10_000, maxRpd: 0 } } });
    const f = limitedFetch({ limiter: ml, fetch: send });
    const body = JSON.stringify({ model: 'gpt-4o', messages: ask(1), max_tokens: 5 });
    const call = () => f('http://127.0.0.1:9/v1/chat/completions', { method: 'POST', body });
    const first = await call();
    expect(first).toBeInstanceOf(Response);
    expect([first.status, first.ok, first.headers.get('x-test')]).toEqual([200, true, '1']);
    expect(first.bodyUsed).toBe(false);
    expect(await first.json()).toEqual(JSON.parse(answer));
    expect(first.bodyUsed).toBe(true);
    expect(await (await call()).text()).toBe(answer);
    expect(new TextDecoder().decode(await (await call()).arrayBuffer())).toBe(answer);
    const blob = await (await call()).blob();
    expect([blob.type, await blob.text()]).toEqual(['application/json', answer]);
    expect(await new Response((await call()).body).text()).toBe(answer);
    expect(await ml.stats('gpt-4o')).toMatchObject({ rpm: 5, tpm: 5 * 5 });
  });
});

describe('limitedFetch with a fetch that is not Node’s own', () => {
  /** An answer class of another fetch (node-fetch, the undici package, a polyfill): its own private state. */
  class ForeignResponse {
    readonly #status: number;
    readonly #headers: Headers;
    readonly #text: string;
    #used = false;
    constructor(text: string, status: number, headers: Record<string, string>) {
      this.#text = text;
      this.#status = status;
      this.#headers = new Headers(headers);
    }
    get status() {
      return this.#status;
    }
    get ok() {
      return this.#status >= 200 && this.#status < 300;
    }
    get statusText() {
      return 'OK';
    }
    get headers() {
      return this.#headers;
    }
    get url() {
      return 'http://foreign.test/v1/chat/completions';
    }
    get bodyUsed() {
      return this.#used;
    }
    async text() {
      this.#used = true;
      return this.#text;
    }
    async json() {
      return JSON.parse(await this.text());
    }
  }

  it('hands back the foreign answer with its own status, headers and url, the body replayed', async () => {
    const answer = JSON.stringify({ usage: { prompt_tokens: 3, completion_tokens: 2 }, said: 'yes' });
    const send = (async () =>
      new ForeignResponse(answer, 200, {
        'content-type': 'application/json',
        'x-test': '1',
      })) as unknown as typeof fetch;
    const ml = new ModelLimiter({ quotas: { 'gpt-4o': { maxRpm: 10, maxTpm: 10_000, maxRpd: 0 } } });
    const f = limitedFetch({ limiter: ml, fetch: send });
    const body = JSON.stringify({ model: 'gpt-4o', messages: ask(1), max_tokens: 5 });
    const got = await f('http://foreign.test/v1/chat/completions', { method: 'POST', body });
    expect(got).toBeInstanceOf(ForeignResponse);
    expect([got.status, got.ok, got.headers.get('x-test'), got.url]).toEqual([
      200,
      true,
      '1',
      'http://foreign.test/v1/chat/completions',
    ]);
    expect(await got.json()).toEqual(JSON.parse(answer));
    expect(await ml.stats('gpt-4o')).toMatchObject({ rpm: 1, tpm: 5 });
  });

  it('the real OpenAI SDK works over limitedFetch around a foreign fetch', async () => {
    const answer = {
      id: 'c1',
      object: 'chat.completion',
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 },
    };
    const send = (async () =>
      new ForeignResponse(JSON.stringify(answer), 200, {
        'content-type': 'application/json',
      })) as unknown as typeof fetch;
    const ml = new ModelLimiter({ quotas: { 'gpt-4o': { maxRpm: 10, maxTpm: 10_000, maxRpd: 0 } } });
    const client = new OpenAI({
      apiKey: 'k',
      baseURL: 'http://foreign.test/v1',
      fetch: limitedFetch({ limiter: ml, fetch: send }),
      maxRetries: 0,
    });
    const completion = await client.chat.completions.create({ model: 'gpt-4o', messages: ask(1) });
    expect(completion.choices[0]!.message.content).toBe('ok');
  });
});

describe('a replayed answer clones and reads as bytes like a fetched one', () => {
  it('clone() gives an unread copy (the Anthropic SDK middleware reads one), bytes() the body', async () => {
    const answer = JSON.stringify({ usage: { prompt_tokens: 3, completion_tokens: 2 }, said: 'yes' });
    const send = (async () =>
      new Response(answer, { status: 200, headers: { 'content-type': 'application/json' } })) as typeof fetch;
    const ml = new ModelLimiter({ quotas: { 'gpt-4o': { maxRpm: 10, maxTpm: 10_000, maxRpd: 0 } } });
    const f = limitedFetch({ limiter: ml, fetch: send });
    const body = JSON.stringify({ model: 'gpt-4o', messages: ask(1), max_tokens: 5 });
    const got = await f('http://127.0.0.1:9/v1/chat/completions', { method: 'POST', body });
    const copy = got.clone();
    expect([copy.status, copy.headers.get('content-type')]).toEqual([200, 'application/json']);
    const [fromCopy, fromOriginal] = [await copy.json(), await got.json()];
    expect(fromCopy).toEqual(JSON.parse(answer));
    expect(fromOriginal).toEqual(fromCopy);
    expect(fromOriginal).not.toBe(fromCopy); // two reads, no object shared
    expect(() => got.clone()).toThrow(TypeError); // a consumed body cannot be cloned
    const again = await f('http://127.0.0.1:9/v1/chat/completions', { method: 'POST', body });
    expect(
      new TextDecoder().decode(await (again as Response & { bytes(): Promise<Uint8Array> }).bytes()),
    ).toBe(answer);
  });
});
