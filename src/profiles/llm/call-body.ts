import { type ChatMessageLike, contentText, estimateTokens, estimateTokensNow } from './tokens.js';

/** A JSON request body of an LLM API, as far as limiting needs it. */
export type CallBody = Record<string, unknown>;

/** The model of a call: `body.model` (OpenAI, Anthropic), else the Gemini path `/models/{model}:…`. */
export function modelOf(url: string, body: CallBody | undefined): string | undefined {
  if (body && typeof body.model === 'string' && body.model.length > 0) return body.model;
  const match = /\/models\/([^/:?]+)[:/]/.exec(url);
  return match ? decodeURIComponent(match[1]!) : undefined;
}

/** Output tokens the call may produce: `max_tokens` / `max_completion_tokens` / `max_output_tokens` / Gemini's `maxOutputTokens`, times `n`. */
export function maxOutputOf(body: CallBody, fallback: number): number {
  const config = body.generationConfig as { maxOutputTokens?: unknown } | undefined;
  const value =
    outputLimit(body.max_tokens) ??
    outputLimit(body.max_completion_tokens) ??
    outputLimit(body.max_output_tokens) ??
    outputLimit(config?.maxOutputTokens);
  const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1 ? body.n : 1;
  return (value ?? fallback) * n;
}

function outputLimit(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/**
 * Prompt tokens of a call body: OpenAI `messages` / `input` / `prompt`, Anthropic `system` + `messages`,
 * Gemini `systemInstruction` + `contents`; tool definitions are counted as their JSON text.
 */
export async function promptTokensOf(model: string, body: CallBody): Promise<number> {
  const messages = promptMessages(body);
  return messages.length === 0 ? 0 : estimateTokens(model, messages);
}

/** {@link promptTokensOf} without a promise once the model's tokenizer is loaded (else a promise of it). */
export function promptTokensNow(model: string, body: CallBody): number | Promise<number> {
  const messages = promptMessages(body);
  if (messages.length === 0) return 0;
  return estimateTokensNow(model, messages) ?? estimateTokens(model, messages);
}

function promptMessages(body: CallBody): ChatMessageLike[] {
  const messages: ChatMessageLike[] = [];
  if (body.system !== undefined) messages.push(message('system', body.system));
  if (body.systemInstruction !== undefined) messages.push(message('system', body.systemInstruction));
  for (const key of PROMPT_KEYS) {
    const value = body[key];
    if (typeof value === 'string') messages.push(message('user', value));
    else if (Array.isArray(value)) {
      for (const m of value as Array<{ role?: unknown; content?: unknown; parts?: unknown }>) {
        messages.push(message(typeof m?.role === 'string' ? m.role : undefined, m?.content ?? m?.parts ?? m));
      }
    }
  }
  if (typeof body.prompt === 'string') messages.push(message('user', body.prompt));
  if (body.tools !== undefined) messages.push(message(undefined, JSON.stringify(body.tools)));
  return messages;
}

const PROMPT_KEYS = ['messages', 'contents', 'input'] as const;

/** A message to count: its role and the text of its content. */
function message(role: string | undefined, content: unknown): ChatMessageLike {
  return { role, content: contentText(content) || (typeof content === 'string' ? content : '') };
}

/** The real usage in an answer body: OpenAI chat / responses, Anthropic messages, Gemini `usageMetadata`. */
export function usageOf(body: unknown): { prompt: number; output: number } | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const usage = (body as { usage?: Record<string, unknown> }).usage;
  if (usage && typeof usage === 'object') {
    if (has(usage.prompt_tokens) || has(usage.completion_tokens)) {
      return { prompt: n(usage.prompt_tokens), output: n(usage.completion_tokens) };
    }
    if (has(usage.input_tokens) || has(usage.output_tokens)) {
      const prompt =
        n(usage.input_tokens) + n(usage.cache_creation_input_tokens) + n(usage.cache_read_input_tokens);
      return { prompt, output: n(usage.output_tokens) };
    }
  }
  const meta = (body as { usageMetadata?: Record<string, unknown> }).usageMetadata;
  if (meta && typeof meta === 'object' && (has(meta.promptTokenCount) || has(meta.candidatesTokenCount))) {
    return {
      prompt: n(meta.promptTokenCount),
      output: n(meta.candidatesTokenCount) + n(meta.thoughtsTokenCount),
    };
  }
  return undefined;
}

/** A token count from an answer: a finite number >= 0, else 0. */
function n(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

function has(v: unknown): boolean {
  return typeof v === 'number';
}
