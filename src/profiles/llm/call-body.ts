import { contentText, estimateTokens } from './tokens.js';

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
  const value = [
    body.max_tokens,
    body.max_completion_tokens,
    body.max_output_tokens,
    config?.maxOutputTokens,
  ].find((v) => typeof v === 'number' && Number.isFinite(v) && v >= 0) as number | undefined;
  const n = typeof body.n === 'number' && Number.isInteger(body.n) && body.n > 1 ? body.n : 1;
  return (value ?? fallback) * n;
}

/**
 * Prompt tokens of a call body: OpenAI `messages` / `input` / `prompt`, Anthropic `system` + `messages`,
 * Gemini `systemInstruction` + `contents`; tool definitions are counted as their JSON text.
 */
export async function promptTokensOf(model: string, body: CallBody): Promise<number> {
  const messages: Array<{ role?: string; content?: unknown }> = [];
  const push = (role: string | undefined, content: unknown) => messages.push({ role, content });
  if (body.system !== undefined) push('system', body.system);
  if (body.systemInstruction !== undefined) push('system', body.systemInstruction);
  for (const key of ['messages', 'contents', 'input'] as const) {
    const value = body[key];
    if (typeof value === 'string') push('user', value);
    else if (Array.isArray(value)) {
      for (const m of value as Array<{ role?: unknown; content?: unknown; parts?: unknown }>) {
        push(typeof m?.role === 'string' ? m.role : undefined, m?.content ?? m?.parts ?? m);
      }
    }
  }
  if (typeof body.prompt === 'string') push('user', body.prompt);
  if (body.tools !== undefined) push(undefined, JSON.stringify(body.tools));
  if (messages.length === 0) return 0;
  return estimateTokens(
    model,
    messages.map((m) => ({
      role: m.role,
      content: contentText(m.content) || (typeof m.content === 'string' ? m.content : ''),
    })),
  );
}

/** The real usage in an answer body: OpenAI chat / responses, Anthropic messages, Gemini `usageMetadata`. */
export function usageOf(body: unknown): { prompt: number; output: number } | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  const has = (v: unknown) => typeof v === 'number';
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
