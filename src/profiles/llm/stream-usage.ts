import { usageOf } from './call-body.js';

/** Usage as a stream reports it so far (Anthropic sends the input in `message_start`, the output later). */
interface Tally {
  prompt?: number;
  output?: number;
}

/** Folds one server-sent event's JSON into the tally: OpenAI's usage chunk, Anthropic's events, Gemini chunks. */
function fold(tally: Tally, event: unknown): void {
  if (!event || typeof event !== 'object') return;
  const e = event as { type?: string; message?: unknown; usage?: { output_tokens?: unknown } };
  if (e.type === 'message_start') {
    const u = usageOf(e.message);
    if (u) {
      tally.prompt = u.prompt;
      tally.output = u.output;
    }
    return;
  }
  if (e.type === 'message_delta' && typeof e.usage?.output_tokens === 'number') {
    tally.output = e.usage.output_tokens; // cumulative
    return;
  }
  const u = usageOf(event);
  if (u) {
    tally.prompt = u.prompt;
    tally.output = u.output;
  }
}

/**
 * Reads a server-sent event stream to its end and returns the usage it reported, or undefined when it
 * reported none (OpenAI sends usage only with `stream_options: { include_usage: true }`) or failed.
 */
export async function streamUsage(
  stream: ReadableStream<Uint8Array>,
): Promise<{ prompt: number; output: number } | undefined> {
  const tally: Tally = {};
  const decoder = new TextDecoder();
  let buffer = '';
  const line = (text: string) => {
    if (!text.startsWith('data:')) return;
    const data = text.slice(5).trim();
    if (!data || data === '[DONE]') return;
    try {
      fold(tally, JSON.parse(data));
    } catch {
      // Not JSON: nothing to count.
    }
  };
  try {
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        line(buffer.slice(0, newline).replace(/\r$/, ''));
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
      }
    }
    line(buffer);
  } catch {
    return undefined;
  }
  return tally.prompt === undefined && tally.output === undefined
    ? undefined
    : { prompt: tally.prompt ?? 0, output: tally.output ?? 0 };
}
