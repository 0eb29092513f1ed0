import { InvalidArgumentError } from '../../core/errors.js';
import { type CallBody, maxOutputOf, modelOf, promptTokensNow, usageOf } from './call-body.js';
import { ModelLimiter } from './model-limiter.js';
import type { ModelQuota } from './quotas.js';
import {
  type ReceiverSignals,
  type ReportedLimit,
  readGeminiError,
  readHeaders,
} from './receiver-signals.js';
import { streamUsage } from './stream-usage.js';

/** Something limitedFetch did, for logs and metrics. */
export type LimitedFetchEvent =
  | { type: 'rate-limited'; model: string; attempt: number; blockedMs: number; retrying: boolean }
  | { type: 'tightened'; model: string; quota: { maxRpm: number; maxTpm: number; maxRpd: number } };

export interface LimitedFetchOptions {
  /** The quota and its shared state. */
  limiter: ModelLimiter;
  /** The fetch that sends. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Output tokens reserved for a call whose body sets no `max_tokens`-style limit. @default 1024 */
  defaultOutputTokens?: number;
  /** Retries of a call answered 429 (each after the block the answer asked for). @default 3 */
  maxRetries?: number;
  /** Observes what happened (runs behind a try/catch). */
  onEvent?: (event: LimitedFetchEvent) => void;
}

/** The block when a 429 names no time. */
const DEFAULT_BLOCK_MS = 1000;

/**
 * A `fetch` for the official SDKs (`new OpenAI({ fetch: limitedFetch({ limiter }), maxRetries: 0 })`, likewise
 * `@anthropic-ai/sdk`, or plain calls to Gemini's REST API). For each JSON call that names a model:
 * 1. estimates its tokens (prompt from the body + its `max_tokens`, or `defaultOutputTokens`) and
 *    `reserve`s them on the {@link ModelLimiter}, waiting exactly until they fit;
 * 2. sends, then settles the reservation with the answer's `usage`: from the JSON body, or from a streamed
 *    answer's usage events when the stream ends (OpenAI's `include_usage` chunk, Anthropic's `message_start`
 *    / `message_delta`, Gemini's `usageMetadata`; the estimate stays when none came); another error status
 *    keeps the request and gives back the tokens;
 * 3. learns from the answer: OpenAI `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, Anthropic
 *    `anthropic-ratelimit-*-{limit,remaining,reset}`, `retry-after`, Gemini's 429 body. A limit lower than
 *    configured tightens the quota (`ModelLimiter.tighten`); usage the receiver reports above the local view
 *    raises it (`observeUsage`); nothing left blocks the model until the reset;
 * 4. on 429, blocks the model for everyone sharing the backend for the time the receiver asked, and retries
 *    (at most `maxRetries`); the last 429 is returned as it came (body intact), so the SDK raises its own
 *    error with the receiver's reason. A Gemini per-day quota failure is not retried.
 * Anything else (no JSON body, no model) passes through untouched.
 */
export function limitedFetch(options: LimitedFetchOptions): typeof fetch {
  if (!options || !(options.limiter instanceof ModelLimiter)) {
    throw new InvalidArgumentError('limiter', 'a ModelLimiter', options?.limiter);
  }
  const ml = options.limiter;
  const send = options.fetch ?? globalThis.fetch;
  if (typeof send !== 'function') throw new InvalidArgumentError('fetch', 'a fetch function', options.fetch);
  const defaultOutput = options.defaultOutputTokens ?? 1024;
  if (!Number.isInteger(defaultOutput) || defaultOutput < 0) {
    throw new InvalidArgumentError('defaultOutputTokens', 'an integer >= 0', options.defaultOutputTokens);
  }
  const maxRetries = options.maxRetries ?? 3;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) {
    throw new InvalidArgumentError('maxRetries', 'an integer >= 0', options.maxRetries);
  }
  const emit = (event: LimitedFetchEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // An observer never changes what happened.
    }
  };

  // Synchronous unless the answer reported usage to observe or asked for a block (most answers: neither).
  const learn = (model: string, s: ReceiverSignals, refused: boolean): number | Promise<number> => {
    const maxRpm = s.perMinute?.requests ?? s.requests.limit;
    const maxTpm = s.perMinute?.tokens ?? s.tokens.limit;
    const maxRpd = s.daily?.limit;
    if (usable(maxRpm) || usable(maxTpm) || usable(maxRpd)) {
      const limits: Partial<ModelQuota> = {};
      if (usable(maxRpm)) limits.maxRpm = maxRpm;
      if (usable(maxTpm)) limits.maxTpm = maxTpm;
      if (usable(maxRpd)) limits.maxRpd = maxRpd;
      if (ml.tighten(model, limits)) emit({ type: 'tightened', model, quota: ml.quota(model) });
    }
    const rpm = usedOf(s.requests);
    const tpm = usedOf(s.tokens);
    // Nothing left somewhere: wait for that dimension's reset (a 429 without a time: a short block).
    let blockMs = Math.max(
      exhaustedFor(s.requests),
      exhaustedFor(s.tokens),
      exhaustedFor(s.inputTokens),
      exhaustedFor(s.outputTokens),
    );
    if (refused) blockMs = s.retryAfterMs ?? (blockMs || DEFAULT_BLOCK_MS);
    const observe = rpm !== undefined || tpm !== undefined;
    if (!observe && !(blockMs > 0)) return blockMs;
    return (async () => {
      if (observe) await ml.observeUsage(model, { rpm, tpm });
      if (blockMs > 0) await ml.block(model, Math.ceil(blockMs));
      return blockMs;
    })();
  };

  return async function rateLimitedFetch(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    // (Awaited only when it is a promise: each await costs a turn of the microtask queue.)
    let text = bodyText(input, init);
    if (typeof text === 'object') text = await text;
    const body = text === undefined ? undefined : parseObject(text);
    const model = modelOf(url, body);
    if (!body || !model) return send(input, init);
    const maxTpm = ml.quota(model).maxTpm;
    let prompt = promptTokensNow(model, body);
    if (typeof prompt !== 'number') prompt = await prompt;
    let estimate = prompt + maxOutputOf(body, defaultOutput);
    // The output limit is a ceiling, not a promise: never reserve more than the whole TPM for it.
    if (maxTpm > 0 && estimate > maxTpm) estimate = Math.max(maxTpm, prompt);
    for (let attempt = 0; ; attempt++) {
      const reservation = await ml.reserve(model, estimate, { signal: init?.signal ?? undefined });
      let response: Response;
      try {
        response = await send(input, init);
      } catch (error) {
        await reservation.release();
        throw error;
      }
      const signals = readHeaders(response.headers, ml.clock.now());
      if (response.status === 429) {
        const answer = await response.text();
        const merged = readGeminiError(parseObject(answer), signals);
        await reservation.release();
        const blockedMs = await learn(model, merged, true);
        const retrying = attempt < maxRetries && !merged.daily;
        emit({ type: 'rate-limited', model, attempt, blockedMs, retrying });
        if (!retrying) {
          return new Response(answer, {
            status: 429,
            statusText: response.statusText,
            headers: response.headers,
          });
        }
        continue;
      }
      const learning = learn(model, signals, false);
      if (typeof learning !== 'number') await learning;
      if (!response.ok) {
        await reservation.commit(0);
        return response;
      }
      const type = response.headers.get('content-type') ?? '';
      if (type.includes('json')) {
        // Read here once and handed back on the same Response (no clone, no second body stream: they cost
        // more than the rest of the call), its JSON parsed once for the usage and for the caller.
        let text: string;
        try {
          text = await response.text();
        } catch (error) {
          await reservation.commit(estimate);
          throw error;
        }
        const parsed = parseObject(text);
        const usage = usageOf(parsed);
        if (usage) await reservation.commit(usage.prompt, usage.output);
        else await reservation.commit(estimate);
        return replay(response, text, parsed);
      } else if (type.includes('text/event-stream') && response.body) {
        // Streamed: the caller reads one branch; the other is read here for the usage events, and the
        // reservation is settled when the stream ends (with the estimate when it reported none).
        const [mine, theirs] = response.body.tee();
        void streamUsage(mine).then((usage) =>
          (usage ? reservation.commit(usage.prompt, usage.output) : reservation.commit(estimate)).catch(
            () => {},
          ),
        );
        return new Response(theirs, {
          status: response.status,
          statusText: response.statusText,
          headers: response.headers,
        });
      } else {
        await reservation.commit(estimate);
      }
      return response;
    }
  };
}

/** Where a replayed answer keeps the body read for it. */
const READ = Symbol('ratekeeper.limitedFetch.body');

interface ReadBody {
  text: string;
  /** The JSON parsed once (undefined: not an object; parsed on demand). */
  parsed: unknown;
  used: boolean;
  stream?: ReadableStream<Uint8Array>;
}

type Replayed = Response & { [READ]: ReadBody };

function consume(response: Response): ReadBody {
  const read = (response as Replayed)[READ];
  read.used = true;
  return read;
}

/**
 * The body methods of a replayed answer, answering from what was read: one prototype per kind of answer
 * (between the answer and its own prototype — `Response.prototype` for Node's fetch, node-fetch's or a
 * polyfill's otherwise — so status, headers, url and `instanceof` are the answer's own), instead of new
 * closures defined on each one.
 */
const REPLAYED_METHODS: PropertyDescriptorMap = {
  bodyUsed: {
    get(this: Replayed) {
      return this[READ].used;
    },
  },
  body: {
    get(this: Replayed) {
      const read = this[READ];
      read.stream ??= new Blob([read.text]).stream();
      return read.stream;
    },
  },
  text: {
    async value(this: Replayed) {
      return consume(this).text;
    },
  },
  json: {
    async value(this: Replayed) {
      const read = consume(this);
      return read.parsed !== undefined ? read.parsed : JSON.parse(read.text);
    },
  },
  blob: {
    async value(this: Replayed) {
      return new Blob([consume(this).text], { type: this.headers.get('content-type') ?? '' });
    },
  },
  arrayBuffer: {
    async value(this: Replayed) {
      return new TextEncoder().encode(consume(this).text).buffer;
    },
  },
  bytes: {
    async value(this: Replayed) {
      return new TextEncoder().encode(consume(this).text);
    },
  },
  clone: {
    value(this: Replayed) {
      const read = this[READ];
      if (read.used) throw new TypeError('Response.clone: Body has already been consumed.');
      // Node's Response refuses a body with a null-body status (204, 304…): those answers have none.
      const copy = new Response(read.text === '' ? null : read.text, {
        status: this.status,
        statusText: this.statusText,
        headers: this.headers,
      });
      return replay(copy, read.text, undefined); // its json() parses again: no object shared by both
    },
  },
};

const replayedPrototypes = new WeakMap<object, object>();
const REPLAYED_PROTOTYPES = new WeakSet<object>();

function replayedPrototype(base: object): object {
  let prototype = replayedPrototypes.get(base);
  if (prototype === undefined) {
    prototype = Object.create(base, REPLAYED_METHODS) as object;
    replayedPrototypes.set(base, prototype);
    REPLAYED_PROTOTYPES.add(prototype);
  }
  return prototype;
}

/**
 * `response` itself, its body already read as `text`: `json()`, `text()`, `arrayBuffer()`, `blob()` and
 * `body` answer from it as they would have from the network (`json()` with `parsed`, the same JSON parsed
 * once, when it is an object). Status, headers, URL stay those of the answer.
 */
function replay(response: Response, text: string, parsed: unknown): Response {
  (response as Replayed)[READ] = { text, parsed, used: false };
  const base = Object.getPrototypeOf(response) as object;
  // An answer replayed before (a clone's) already has a replayed prototype.
  if (!REPLAYED_PROTOTYPES.has(base)) Object.setPrototypeOf(response, replayedPrototype(base));
  return response;
}

/** A reported limit worth tightening to (a limit below 1 would block the model for good). */
function usable(limit: number | undefined): limit is number {
  return limit !== undefined && limit >= 1;
}

/** `limit - remaining` when the receiver reported both. */
function usedOf(d: ReportedLimit): number | undefined {
  return d.limit !== undefined && d.remaining !== undefined ? Math.max(0, d.limit - d.remaining) : undefined;
}

/** The time until a dimension with nothing left is back (0 when something is left or no reset was given). */
function exhaustedFor(d: ReportedLimit): number {
  return d.remaining === 0 && d.resetMs !== undefined ? d.resetMs : 0;
}

/** The request body's text (a promise only for a `Request`'s own body). */
function bodyText(
  input: string | URL | Request,
  init: RequestInit | undefined,
): string | undefined | Promise<string> {
  const body = init?.body;
  if (typeof body === 'string') return body;
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
    return new TextDecoder().decode(body as ArrayBuffer);
  }
  if (body === undefined && input instanceof Request && input.body) return input.clone().text();
  return undefined;
}

function parseObject(text: string): CallBody | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as CallBody) : undefined;
  } catch {
    return undefined;
  }
}
