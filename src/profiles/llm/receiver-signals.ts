/**
 * What a provider's answer says about its rate limits, read from the headers (OpenAI, Anthropic, any
 * `retry-after`) and from Gemini's 429 body. Pure functions: no I/O.
 */

/** One dimension the receiver reported: its limit, what is left, and when it is back to full (ms from now). */
export interface ReportedLimit {
  limit?: number;
  remaining?: number;
  resetMs?: number;
}

export interface ReceiverSignals {
  /** Requests per the receiver's window (OpenAI / Anthropic: per minute). */
  requests: ReportedLimit;
  /** Tokens (input + output) per minute. */
  tokens: ReportedLimit;
  /** Anthropic's separate input / output token limits (only their exhaustion is used). */
  inputTokens: ReportedLimit;
  outputTokens: ReportedLimit;
  /** `retry-after` (seconds or an HTTP date) or Gemini's `RetryInfo.retryDelay`, in ms. */
  retryAfterMs?: number;
  /** Gemini: a QuotaFailure on a per-day quota (not worth retrying today). */
  daily?: { quotaId: string; limit?: number };
  /** Gemini: per-minute quota values by dimension, when the QuotaFailure names them. */
  perMinute?: { requests?: number; tokens?: number };
}

/**
 * Parses OpenAI's reset durations: `'6m0s'`, `'12ms'`, `'23h18m29.144s'`, `'1s'`, `'0.5s'`. Also a plain
 * number of seconds. Returns ms, or undefined when malformed.
 */
export function parseResetDuration(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  const pattern = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;
  let total = 0;
  let matched = 0;
  for (const match of text.matchAll(pattern)) {
    total += Number(match[1]) * unit[match[2]!]!;
    matched += match[0].length;
  }
  return matched > 0 && matched === text.length ? Math.round(total) : undefined;
}

/** `retry-after`: seconds, or an HTTP date (relative to `now`). */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function int(value: string | null): number | undefined {
  if (value === null) return undefined;
  const n = Number(value.trim());
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : undefined;
}

/** Anthropic resets are RFC 3339 times. */
function untilTime(value: string | null, now: number): number | undefined {
  if (!value) return undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** The header names of one dimension (precomputed: an answer is read on every call). */
interface DimensionNames {
  limit: string;
  remaining: string;
  reset: string;
}
const openaiNames = (kind: string): DimensionNames => ({
  limit: `x-ratelimit-limit-${kind}`,
  remaining: `x-ratelimit-remaining-${kind}`,
  reset: `x-ratelimit-reset-${kind}`,
});
const anthropicNames = (kind: string): DimensionNames => ({
  limit: `anthropic-ratelimit-${kind}-limit`,
  remaining: `anthropic-ratelimit-${kind}-remaining`,
  reset: `anthropic-ratelimit-${kind}-reset`,
});
const OPENAI_REQUESTS = openaiNames('requests');
const OPENAI_TOKENS = openaiNames('tokens');
const ANTHROPIC_REQUESTS = anthropicNames('requests');
const ANTHROPIC_TOKENS = anthropicNames('tokens');
const ANTHROPIC_INPUT = anthropicNames('input-tokens');
const ANTHROPIC_OUTPUT = anthropicNames('output-tokens');

type Found = Record<string, string | undefined>;

/** One dimension: OpenAI's headers first, else Anthropic's (a family left out is not read). */
function dimension(
  found: Found,
  openai: DimensionNames | undefined,
  anthropic: DimensionNames | undefined,
  now: number,
): ReportedLimit {
  return {
    limit: (openai && int(found[openai.limit] ?? null)) ?? (anthropic && int(found[anthropic.limit] ?? null)),
    remaining:
      (openai && int(found[openai.remaining] ?? null)) ??
      (anthropic && int(found[anthropic.remaining] ?? null)),
    resetMs:
      (openai && parseResetDuration(found[openai.reset])) ??
      (anthropic && untilTime(found[anthropic.reset] ?? null, now)),
  };
}

const none = (): ReportedLimit => ({ limit: undefined, remaining: undefined, resetMs: undefined });

/** Reads the rate-limit headers of an answer (any status). */
export function readHeaders(headers: Headers, now: number): ReceiverSignals {
  // One pass over the answer's headers (a handful) instead of looking up the 25 names it may carry; only
  // the families present are read (an OpenAI answer has no Anthropic names, and the reverse).
  let found: Found | undefined;
  let openai = false;
  let anthropic = false;
  // The names alone, then the value of each that matters: a network answer's entries cost about twice
  // its names to iterate (undici), and most of its headers are not rate limits.
  for (const name of headers.keys()) {
    if (name.startsWith('x-ratelimit-')) openai = true;
    else if (name.startsWith('anthropic-ratelimit-')) anthropic = true;
    else if (name !== 'retry-after') continue;
    found ??= Object.create(null) as Found;
    found[name] = headers.get(name) ?? undefined;
  }
  if (found === undefined) {
    return { requests: none(), tokens: none(), inputTokens: none(), outputTokens: none() };
  }
  const retryAfter = found['retry-after'];
  return {
    // Only the families the answer carries are read.
    requests: dimension(
      found,
      openai ? OPENAI_REQUESTS : undefined,
      anthropic ? ANTHROPIC_REQUESTS : undefined,
      now,
    ),
    tokens: dimension(
      found,
      openai ? OPENAI_TOKENS : undefined,
      anthropic ? ANTHROPIC_TOKENS : undefined,
      now,
    ),
    inputTokens: dimension(found, undefined, anthropic ? ANTHROPIC_INPUT : undefined, now),
    outputTokens: dimension(found, undefined, anthropic ? ANTHROPIC_OUTPUT : undefined, now),
    retryAfterMs: retryAfter === undefined ? undefined : parseRetryAfter(retryAfter, now),
  };
}

interface GoogleDetail {
  '@type'?: string;
  retryDelay?: string;
  violations?: Array<{ quotaId?: string; quotaMetric?: string; quotaValue?: string | number }>;
}

/**
 * Reads Gemini's 429 body (`{ error: { status: 'RESOURCE_EXHAUSTED', details: [...] } }`): `RetryInfo.retryDelay`
 * (`"26s"`) and `QuotaFailure` violations (a per-day `quotaId` is not retryable). Merges into `signals`.
 */
export function readGeminiError(body: unknown, signals: ReceiverSignals): ReceiverSignals {
  const details = (body as { error?: { details?: unknown } } | null)?.error?.details;
  if (!Array.isArray(details)) return signals;
  const out = { ...signals };
  for (const detail of details as GoogleDetail[]) {
    const type = detail?.['@type'] ?? '';
    if (type.endsWith('google.rpc.RetryInfo') && typeof detail.retryDelay === 'string') {
      const ms = parseResetDuration(detail.retryDelay);
      if (ms !== undefined) out.retryAfterMs = Math.max(out.retryAfterMs ?? 0, ms);
    }
    if (type.endsWith('google.rpc.QuotaFailure') && Array.isArray(detail.violations)) {
      for (const v of detail.violations) {
        const id = `${v.quotaId ?? ''} ${v.quotaMetric ?? ''}`;
        const value = v.quotaValue === undefined ? undefined : Number(v.quotaValue);
        const limit = value !== undefined && Number.isSafeInteger(value) && value > 0 ? value : undefined;
        if (/per_?day/i.test(id)) {
          out.daily = { quotaId: v.quotaId ?? v.quotaMetric ?? 'per-day', limit };
        } else if (/per_?minute/i.test(id) && limit !== undefined) {
          out.perMinute = { ...out.perMinute, [/token/i.test(id) ? 'tokens' : 'requests']: limit };
        }
      }
    }
  }
  return out;
}
