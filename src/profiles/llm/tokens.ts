import { type Duration, parsePositiveDuration } from '../../core/duration.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { UpstreamError } from './errors.js';
import { TextCounts } from './text-counts.js';

/** A chat message as the SDKs send it: text content, or an array of parts whose text parts are counted. */
export interface ChatMessageLike {
  role?: string;
  content?: unknown;
}

/** What can be estimated: plain text, chat messages, or any JSON value (its text parts are counted). */
export type TokenInput = string | readonly ChatMessageLike[];

type Encoding = {
  countTokens(text: string, options?: { disallowedSpecial?: Set<string> }): number;
  /** gpt-tokenizer 3+: the count of plain text (special tokens counted as text), without option parsing. */
  countStringTokens?(text: string): number;
};
const encodings = new Map<string, Promise<Encoding>>();
/** Special tokens are counted as text (`<|endoftext|>` in a prompt is not an error): one options object for every count. */
const AS_TEXT = Object.freeze({ disallowedSpecial: new Set<string>() });
/** The count function of each encoding once it is loaded (no promise to wait for after the first call). */
const counters = new Map<string, (text: string) => number>();

/** Which of OpenAI's encodings a model uses: `o200k_base` (gpt-4o, o-series, gpt-4.1, gpt-5), `cl100k_base` (gpt-4, gpt-3.5), else none. */
export function openaiEncoding(model: string): 'o200k_base' | 'cl100k_base' | undefined {
  const m = model.toLowerCase().replace(/^openai\//, '');
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o\d|chatgpt-)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(m)) return 'cl100k_base';
  return undefined;
}

async function encodingFor(name: string): Promise<Encoding> {
  let loading = encodings.get(name);
  if (!loading) {
    // Loaded on first use: each encoding's ranks are megabytes.
    loading = (
      name === 'o200k_base'
        ? import('gpt-tokenizer/encoding/o200k_base')
        : import('gpt-tokenizer/encoding/cl100k_base')
    ) as Promise<Encoding>;
    encodings.set(name, loading);
  }
  return loading;
}

async function counterFor(name: string): Promise<(text: string) => number> {
  const encoding = await encodingFor(name);
  // countTokens with options re-reads them on every call; countStringTokens counts the same way, directly.
  const tokenize =
    typeof encoding.countStringTokens === 'function'
      ? (text: string) => (text === '' ? 0 : encoding.countStringTokens!(text))
      : (text: string) => encoding.countTokens(text, AS_TEXT);
  // The texts of a chat come again on its next calls (the history is resent): each is tokenized once.
  const known = new TextCounts();
  const count = (text: string) => known.count(text, tokenize);
  counters.set(name, count);
  return count;
}

/** Encodings by model name (a handful of names per process; bounded all the same: names come from bodies). */
const encodingOfModel = new Map<string, 'o200k_base' | 'cl100k_base' | undefined>();

function encodingOf(model: string): 'o200k_base' | 'cl100k_base' | undefined {
  if (encodingOfModel.has(model)) return encodingOfModel.get(model);
  const name = openaiEncoding(model);
  if (encodingOfModel.size >= 1024) encodingOfModel.clear();
  encodingOfModel.set(model, name);
  return name;
}

/** Token counts of roles (`system`, `user`, `assistant`, …: a handful per process), per count function. */
const roleCounts = new WeakMap<(text: string) => number, Map<string, number>>();

function roleTokens(count: (text: string) => number, role: string): number {
  let known = roleCounts.get(count);
  if (!known) {
    known = new Map();
    roleCounts.set(count, known);
  }
  let n = known.get(role);
  if (n === undefined) {
    n = count(role);
    // A role is a short name from a small set; anything else is counted every time.
    if (role.length <= 32 && known.size < 64) known.set(role, n);
  }
  return n;
}

/** Tokens a chat format adds: per message (separators; the role is counted too) and once to prime the reply (OpenAI's cookbook). */
const PER_MESSAGE = 3;
const REPLY_PRIMING = 3;

/**
 * The heuristic used for models without a local tokenizer (Gemini, Claude, local models): one token per
 * 4 characters of ASCII text (English prose and code average 3.5–4.5) plus one per non-ASCII character
 * (CJK text is about one token per character; accented letters count high, which errs on the safe side).
 * Rounded up. Meant for reservations, which should not undershoot; use a provider's count API when exact
 * numbers matter (`countGeminiTokens`).
 */
export function heuristicTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (const ch of text) {
    if (ch.charCodeAt(0) < 128) ascii++;
    else other++;
  }
  return Math.ceil(ascii / 4) + other;
}

/** The text parts of a message content (a string, or `[{ type: 'text', text }]`-style parts). */
export function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map(contentText).join('\n');
  if (content && typeof content === 'object') {
    const part = content as Record<string, unknown>;
    if (typeof part.text === 'string') return part.text;
    if (part.content !== undefined) return contentText(part.content);
    if (part.parts !== undefined) return contentText(part.parts);
  }
  return '';
}

/**
 * Estimates the prompt tokens of `input` for `model`: OpenAI models with their real tokenizer
 * (`gpt-tokenizer`, plus the chat format's overhead: 3 per message, its role, 3 for the reply), other models with {@link heuristicTokens}.
 * @example await estimateTokens('gpt-4o', [{ role: 'user', content: 'Hello' }]) // 11
 */
export async function estimateTokens(model: string, input: TokenInput): Promise<number> {
  if (typeof model !== 'string') throw new InvalidArgumentError('model', 'a model name', model);
  const encodingName = encodingOf(model);
  if (encodingName !== undefined && !counters.has(encodingName)) await counterFor(encodingName);
  return estimateTokensNow(model, input)!;
}

/**
 * {@link estimateTokens} without a promise, once the model's tokenizer is loaded (`undefined` before: call
 * `estimateTokens`, which loads it). What `limitedFetch` counts with on every call.
 */
export function estimateTokensNow(model: string, input: TokenInput): number | undefined {
  if (typeof model !== 'string') throw new InvalidArgumentError('model', 'a model name', model);
  const encodingName = encodingOf(model);
  const count = encodingName === undefined ? heuristicTokens : counters.get(encodingName);
  if (count === undefined) return undefined;
  if (typeof input === 'string') return count(input);
  if (!Array.isArray(input))
    throw new InvalidArgumentError('input', 'a string or an array of chat messages', input);
  let total = REPLY_PRIMING;
  for (const message of input) {
    total += PER_MESSAGE + count(contentText(message?.content));
    if (typeof message?.role === 'string') total += roleTokens(count, message.role);
  }
  return total;
}

export interface GeminiCountOptions {
  /** Sent as `x-goog-api-key`. */
  apiKey?: string;
  /** @default 'https://generativelanguage.googleapis.com' (a Gemini-compatible proxy or a local mock works too) */
  baseUrl?: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** @default '10s' */
  timeout?: Duration;
  signal?: AbortSignal;
}

/**
 * Gemini's `models/{model}:countTokens` over HTTP: the exact prompt tokens of `text` (or of Gemini `contents`).
 * @throws UpstreamError (code `ERR_UPSTREAM`) on a non-2xx answer, a network error, a timeout or a body
 * without `totalTokens`; the message carries the status and the API's own error message.
 */
export async function countGeminiTokens(
  model: string,
  input: string | readonly unknown[],
  options: GeminiCountOptions = {},
): Promise<number> {
  if (typeof model !== 'string' || model.length === 0)
    throw new InvalidArgumentError('model', 'a model name', model);
  const base = (options.baseUrl ?? 'https://generativelanguage.googleapis.com').replace(/\/+$/, '');
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function')
    throw new InvalidArgumentError('fetch', 'a fetch function', options.fetch);
  const timeoutMs = parsePositiveDuration(options.timeout ?? '10s', 'timeout');
  const name = model.startsWith('models/') ? model : `models/${model}`;
  const url = `${base}/v1beta/${name}:countTokens`;
  const contents = typeof input === 'string' ? [{ role: 'user', parts: [{ text: input }] }] : input;
  const signals = [AbortSignal.timeout(timeoutMs), ...(options.signal ? [options.signal] : [])];
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(options.apiKey ? { 'x-goog-api-key': options.apiKey } : {}),
      },
      body: JSON.stringify({ contents }),
      signal: AbortSignal.any(signals),
    });
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    const message = timedOut
      ? `no answer within ${timeoutMs}ms`
      : `request failed: ${(error as Error)?.message ?? error}`;
    throw new UpstreamError(url, message, undefined, { cause: error });
  }
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!response.ok) {
    const apiMessage = (body as { error?: { message?: string } } | undefined)?.error?.message;
    throw new UpstreamError(
      url,
      `HTTP ${response.status}${apiMessage ? `: ${apiMessage}` : ''}`,
      response.status,
    );
  }
  const total = (body as { totalTokens?: unknown } | undefined)?.totalTokens;
  if (typeof total !== 'number' || !Number.isInteger(total) || total < 0) {
    throw new UpstreamError(
      url,
      `expected a JSON body with totalTokens, received ${text.slice(0, 80)}`,
      response.status,
    );
  }
  return total;
}
