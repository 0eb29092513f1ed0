/** A Bot API error answer, e.g. `{ ok: false, error_code: 429, description: 'Too Many Requests: retry after 35', parameters: { retry_after: 35 } }`. */
export interface TelegramErrorResponse {
  ok: false;
  error_code: number;
  description: string;
  parameters?: { retry_after?: number; migrate_to_chat_id?: number };
}

/** What the Bot API answers to any method. */
export type TelegramResponse<T = unknown> = { ok: true; result: T } | TelegramErrorResponse;

/** Used when a 429 says neither `parameters.retry_after` nor "retry after N" (it always does in practice). */
export const DEFAULT_RETRY_AFTER_MS = 1_000;

/**
 * How long a Bot API answer says to wait, in ms: a 429's `parameters.retry_after` (seconds), else the
 * "retry after N" of its description, else {@link DEFAULT_RETRY_AFTER_MS}. `undefined` for anything that is
 * not a 429 answer.
 */
export function retryAfterMs(response: unknown): number | undefined {
  if (response === null || typeof response !== 'object') return undefined;
  const r = response as Partial<TelegramErrorResponse>;
  if (r.ok !== false || r.error_code !== 429) return undefined;
  const seconds = r.parameters?.retry_after;
  if (typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const said = typeof r.description === 'string' ? /retry after (\d+(?:\.\d+)?)/i.exec(r.description) : null;
  return said ? Number(said[1]) * 1000 : DEFAULT_RETRY_AFTER_MS;
}
