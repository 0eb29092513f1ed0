/**
 * What the documentation's sketches (the `<!-- sketch: … -->` blocks of the READMEs under src/) take as given:
 * the reader's own values, declared here so that tsc checks every call a sketch makes against the package's
 * types. The sketches are type-checked, not run (they need a bot token, an API key or the reader's own code).
 */
import type { Api } from 'grammy';
import type OpenAI from 'openai';
import type { Backend, Clock, ModelLimiter } from 'ratekeeper';

declare global {
  const backend: Backend;
  const clock: Clock;
  const signal: AbortSignal;
  const ml: ModelLimiter;
  const promptTokens: number;
  const maxTokens: number;
  const openai: OpenAI;
  const body: OpenAI.Chat.ChatCompletionCreateParamsNonStreaming;
  const token: string;
  const chatId: number;
  const api: Api;
  function callApi(endpoint: string, payload: unknown, options: { signal: AbortSignal }): Promise<unknown>;
}
