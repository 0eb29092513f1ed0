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

/** Reads the rate-limit headers of an answer (any status). */
export function readHeaders(headers: Headers, now: number): ReceiverSignals {
  // One pass over the answer's headers (a handful) instead of looking up the 25 names it may carry.
  const found = new Map<string, string>();
  for (const [name, value] of headers) {
    if (
      name.startsWith('x-ratelimit-') ||
      name.startsWith('anthropic-ratelimit-') ||
      name === 'retry-after'
    ) {
      found.set(name, value);
    }
  }
  const get = (name: string) => found.get(name) ?? null;
  const openai = (kind: string): ReportedLimit => ({
    limit: int(get(`x-ratelimit-limit-${kind}`)),
    remaining: int(get(`x-ratelimit-remaining-${kind}`)),
    resetMs: parseResetDuration(get(`x-ratelimit-reset-${kind}`)),
  });
  const anthropic = (kind: string): ReportedLimit => ({
    limit: int(get(`anthropic-ratelimit-${kind}-limit`)),
    remaining: int(get(`anthropic-ratelimit-${kind}-remaining`)),
    resetMs: untilTime(get(`anthropic-ratelimit-${kind}-reset`), now),
  });
  const merge = (a: ReportedLimit, b: ReportedLimit): ReportedLimit => ({
    limit: a.limit ?? b.limit,
    remaining: a.remaining ?? b.remaining,
    resetMs: a.resetMs ?? b.resetMs,
  });
  const none: ReportedLimit = { limit: undefined, remaining: undefined, resetMs: undefined };
  if (found.size === 0) {
    return { requests: none, tokens: { ...none }, inputTokens: { ...none }, outputTokens: { ...none } };
  }
  return {
    requests: merge(openai('requests'), anthropic('requests')),
    tokens: merge(openai('tokens'), anthropic('tokens')),
    inputTokens: anthropic('input-tokens'),
    outputTokens: anthropic('output-tokens'),
    retryAfterMs: parseRetryAfter(get('retry-after'), now),
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
