import type { FakeClock } from '../../../src/core/clock.js';
import type { TelegramResponse } from '../../../src/profiles/telegram/index.js';
import type { TelegramThrottler } from '../../../src/profiles/telegram/throttler.js';
import { FloodControl } from '../../fixtures/telegram-flood.js';

export const T0 = 1_700_000_040_000; // aligned to 1s and 1m
export const TOKEN = '123456:AAH-super-secret-token';

export type Prev = (method: string, payload: unknown, signal?: AbortSignal) => Promise<TelegramResponse>;

/** Calls a throttler the way grammY does: `(prev, method, payload, signal)`. */
export function invoke(
  throttler: TelegramThrottler,
  prev: Prev,
  method: string,
  payload: unknown,
  signal?: AbortSignal,
): Promise<TelegramResponse> {
  const t = throttler as unknown as (
    prev: Prev,
    method: string,
    payload: unknown,
    signal?: AbortSignal,
  ) => Promise<TelegramResponse>;
  return t(prev, method, payload, signal);
}

export interface ApiCall {
  method: string;
  chat: string;
  text: string;
  at: number;
  answer: TelegramResponse;
}

/**
 * A fake Bot API on the fake clock, without HTTP: it enforces Telegram's limits for one bot with the
 * same FloodControl the HTTP fake uses, records every call, and lets a test answer some calls itself.
 */
export function fakeApi(clock: FakeClock, flood = new FloodControl(clock.now), bot = '123456') {
  const calls: ApiCall[] = [];
  let override:
    | ((method: string, payload: Record<string, unknown>) => TelegramResponse | undefined)
    | undefined;
  const prev: Prev = async (method, payload) => {
    const p = (payload ?? {}) as Record<string, unknown>;
    const record = (answer: TelegramResponse) => {
      calls.push({
        method,
        chat: String(p.chat_id ?? ''),
        text: String(p.text ?? ''),
        at: clock.now(),
        answer,
      });
      return answer;
    };
    const scripted = override?.(method, p);
    if (scripted) return record(scripted);
    if (method === 'getMe') return record({ ok: true, result: { id: Number(bot), is_bot: true } });
    if (p.chat_id === undefined) return record({ ok: true, result: true });
    const verdict = flood.admit(bot, String(p.chat_id));
    if (!verdict.ok) {
      return record({
        ok: false,
        error_code: 429,
        description: `Too Many Requests: retry after ${verdict.retryAfter}`,
        parameters: { retry_after: verdict.retryAfter },
      });
    }
    return record({ ok: true, result: { message_id: calls.length + 1, text: p.text } });
  };
  return {
    prev,
    calls,
    flood,
    /** Answers the calls `fn` returns an answer for; the others go to the fake. */
    answerWith(fn: typeof override) {
      override = fn;
    },
    refused: () => calls.filter((c) => !c.answer.ok && c.answer.error_code === 429),
    sent: (chat?: string | number) =>
      calls.filter(
        (c) => c.answer.ok && c.method === 'sendMessage' && (chat === undefined || c.chat === String(chat)),
      ),
  };
}

export const tooManyRequests = (seconds: number): TelegramResponse => ({
  ok: false,
  error_code: 429,
  description: `Too Many Requests: retry after ${seconds}`,
  parameters: { retry_after: seconds },
});
