import { InvalidArgumentError } from '../../core/errors.js';
import { type CallBody, maxOutputOf, modelOf, promptTokensOf, usageOf } from './call-body.js';
import { ModelLimiter } from './model-limiter.js';
import { type ReceiverSignals, readGeminiError, readHeaders } from './receiver-signals.js';
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

  const learn = async (model: string, s: ReceiverSignals, refused: boolean): Promise<number> => {
    const before = ml.quota(model);
    const limits = {
      maxRpm: s.perMinute?.requests ?? s.requests.limit,
      maxTpm: s.perMinute?.tokens ?? s.tokens.limit,
      maxRpd: s.daily?.limit,
    };
    const usable = Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined && v >= 1));
    if (Object.keys(usable).length > 0) ml.tighten(model, usable);
    const after = ml.quota(model);
    if (after.maxRpm !== before.maxRpm || after.maxTpm !== before.maxTpm || after.maxRpd !== before.maxRpd) {
      emit({ type: 'tightened', model, quota: after });
    }
    const used = (d: ReceiverSignals['requests']) =>
      d.limit !== undefined && d.remaining !== undefined ? Math.max(0, d.limit - d.remaining) : undefined;
    await ml.observeUsage(model, { rpm: used(s.requests), tpm: used(s.tokens) });
    // Nothing left somewhere: wait for that dimension's reset (a 429 without a time: a short block).
    let blockMs = 0;
    for (const d of [s.requests, s.tokens, s.inputTokens, s.outputTokens]) {
      if (d.remaining === 0 && d.resetMs !== undefined) blockMs = Math.max(blockMs, d.resetMs);
    }
    if (refused) blockMs = s.retryAfterMs ?? (blockMs || DEFAULT_BLOCK_MS);
    if (blockMs > 0) await ml.block(model, Math.ceil(blockMs));
    return blockMs;
  };

  return async function rateLimitedFetch(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const text = await bodyText(input, init);
    const body = text === undefined ? undefined : parseObject(text);
    const model = modelOf(url, body);
    if (!body || !model) return send(input, init);
    const quota = ml.quota(model);
    let estimate = (await promptTokensOf(model, body)) + maxOutputOf(body, defaultOutput);
    // The output limit is a ceiling, not a promise: never reserve more than the whole TPM for it.
    if (quota.maxTpm > 0 && estimate > quota.maxTpm)
      estimate = Math.max(quota.maxTpm, await promptTokensOf(model, body));
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
      await learn(model, signals, false);
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

/**
 * `response` itself, its body already read as `text`: `json()`, `text()`, `arrayBuffer()`, `blob()` and
 * `body` answer from it as they would have from the network (`json()` with `parsed`, the same JSON parsed
 * once, when it is an object). Status, headers, URL stay those of the answer.
 */
function replay(response: Response, text: string, parsed: unknown): Response {
  let used = false;
  let stream: ReadableStream<Uint8Array> | undefined;
  const take = async <T>(make: () => T): Promise<T> => {
    used = true;
    return make();
  };
  Object.defineProperties(response, {
    bodyUsed: { get: () => used },
    body: { get: () => (stream ??= new Blob([text]).stream()) },
    text: { value: () => take(() => text) },
    json: { value: () => take(() => (parsed !== undefined ? parsed : JSON.parse(text))) },
    blob: { value: () => take(() => new Blob([text], { type: response.headers.get('content-type') ?? '' })) },
    arrayBuffer: { value: () => take(() => new TextEncoder().encode(text).buffer) },
  });
  return response;
}

async function bodyText(
  input: string | URL | Request,
  init: RequestInit | undefined,
): Promise<string | undefined> {
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
