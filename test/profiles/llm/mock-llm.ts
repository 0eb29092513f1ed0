/**
 * A local LLM API on 127.0.0.1 that enforces its own RPM and TPM per model over a sliding window and
 * answers as OpenAI (`POST /v1/chat/completions`) or Anthropic (`POST /v1/messages`) do: `usage` in the
 * body, the provider's rate-limit headers on every answer, 429 with `retry-after` when a call would break a
 * limit (refused calls are not counted, as the providers do).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MockLlmOptions {
  flavor: 'openai' | 'anthropic';
  rpm: number;
  tpm: number;
  windowMs: number;
  /** Output tokens of every answer (capped by max_tokens). @default 12 */
  outputTokens?: number;
  /** ms before answering (real time). @default 5 */
  delayMs?: number;
  /** The time the limits are enforced on (share a test's clock). @default Date.now */
  now?: () => number;
}

export class MockLlm {
  readonly options: Required<MockLlmOptions>;
  readonly log: Array<{ at: number; model: string; tokens: number }> = [];
  /** Answers by status. */
  readonly statuses: Record<number, number> = {};
  #server: Server;

  private constructor(server: Server, options: Required<MockLlmOptions>) {
    this.#server = server;
    this.options = options;
  }

  static async start(options: MockLlmOptions): Promise<MockLlm> {
    const server = createServer();
    const mock = new MockLlm(server, { outputTokens: 12, delayMs: 5, now: Date.now, ...options });
    server.on('request', (req, res) => {
      let data = '';
      req.on('data', (c) => {
        data += c;
      });
      req.on('end', () => {
        const request = JSON.parse(data || '{}');
        const { status, headers, body } = mock.#answer(request);
        mock.statuses[status] = (mock.statuses[status] ?? 0) + 1;
        setTimeout(() => {
          if (status !== 200 || !request.stream) {
            res.writeHead(status, { 'content-type': 'application/json', ...headers });
            return res.end(JSON.stringify(body));
          }
          res.writeHead(status, { 'content-type': 'text/event-stream', ...headers });
          for (const event of mock.#events(request, body as unknown as { usage: Record<string, number> }))
            res.write(event);
          res.end();
        }, mock.options.delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return mock;
  }

  get baseUrl(): string {
    const port = (this.#server.address() as AddressInfo).port;
    return this.options.flavor === 'openai' ? `http://127.0.0.1:${port}/v1` : `http://127.0.0.1:${port}`;
  }

  get refused(): number {
    return this.statuses[429] ?? 0;
  }

  #answer(request: {
    model: string;
    max_tokens?: number;
    messages?: Array<{ content: unknown }>;
    system?: unknown;
  }) {
    const { rpm, tpm, windowMs, flavor } = this.options;
    const now = this.options.now();
    const text = JSON.stringify(request.messages ?? []) + JSON.stringify(request.system ?? '');
    const input = Math.ceil(text.length / 4);
    const output = Math.min(request.max_tokens ?? Number.POSITIVE_INFINITY, this.options.outputTokens);
    const live = this.log.filter((e) => e.model === request.model && e.at > now - windowMs);
    const usedRequests = live.length;
    const usedTokens = live.reduce((n, e) => n + e.tokens, 0);
    const ok = usedRequests < rpm && usedTokens + input + output <= tpm;
    if (ok) this.log.push({ at: now, model: request.model, tokens: input + output });
    // When the oldest entry leaves the window: the time until a request would fit again (approximately).
    const resetMs = live.length > 0 ? Math.max(1, live[0]!.at + windowMs - now) : 0;
    const requestsLeft = Math.max(0, rpm - usedRequests - (ok ? 1 : 0));
    const tokensLeft = Math.max(0, tpm - usedTokens - (ok ? input + output : 0));
    const headers: Record<string, string> =
      flavor === 'openai'
        ? {
            'x-ratelimit-limit-requests': String(rpm),
            'x-ratelimit-remaining-requests': String(requestsLeft),
            'x-ratelimit-reset-requests': `${resetMs}ms`,
            'x-ratelimit-limit-tokens': String(tpm),
            'x-ratelimit-remaining-tokens': String(tokensLeft),
            'x-ratelimit-reset-tokens': `${resetMs}ms`,
          }
        : {
            'anthropic-ratelimit-requests-limit': String(rpm),
            'anthropic-ratelimit-requests-remaining': String(requestsLeft),
            'anthropic-ratelimit-requests-reset': new Date(now + resetMs).toISOString(),
            'anthropic-ratelimit-tokens-limit': String(tpm),
            'anthropic-ratelimit-tokens-remaining': String(tokensLeft),
            'anthropic-ratelimit-tokens-reset': new Date(now + resetMs).toISOString(),
          };
    if (!ok) {
      headers['retry-after'] = String(Math.max(1, Math.ceil(resetMs / 1000)));
      const error =
        flavor === 'openai'
          ? {
              error: {
                message: 'Rate limit reached for requests',
                type: 'requests',
                code: 'rate_limit_exceeded',
              },
            }
          : {
              type: 'error',
              error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit' },
            };
      return { status: 429, headers, body: error };
    }
    const body =
      flavor === 'openai'
        ? {
            id: `chatcmpl-${this.log.length}`,
            object: 'chat.completion',
            created: Math.floor(now / 1000),
            model: request.model,
            choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
            usage: { prompt_tokens: input, completion_tokens: output, total_tokens: input + output },
          }
        : {
            id: `msg_${this.log.length}`,
            type: 'message',
            role: 'assistant',
            model: request.model,
            content: [{ type: 'text', text: 'ok' }],
            stop_reason: 'end_turn',
            stop_sequence: null,
            usage: { input_tokens: input, output_tokens: output },
          };
    return { status: 200, headers, body };
  }

  /** The answer as server-sent events, the way each provider streams (usage last for OpenAI, when asked). */
  #events(
    request: { model: string; stream_options?: { include_usage?: boolean } },
    body: { usage: Record<string, number> },
  ): string[] {
    const sse = (data: unknown, event?: string) =>
      `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
    if (this.options.flavor === 'openai') {
      const chunk = (content: string) => ({
        id: 'chatcmpl-s',
        object: 'chat.completion.chunk',
        created: 0,
        model: request.model,
        choices: [{ index: 0, delta: { content }, finish_reason: null }],
      });
      const events = [sse(chunk('o')), sse(chunk('k'))];
      if (request.stream_options?.include_usage) {
        events.push(
          sse({
            id: 'chatcmpl-s',
            object: 'chat.completion.chunk',
            created: 0,
            model: request.model,
            choices: [],
            usage: body.usage,
          }),
        );
      }
      return [...events, 'data: [DONE]\n\n'];
    }
    const { input_tokens, output_tokens } = body.usage as { input_tokens: number; output_tokens: number };
    return [
      sse(
        {
          type: 'message_start',
          message: {
            id: 'msg_s',
            type: 'message',
            role: 'assistant',
            model: request.model,
            content: [],
            stop_reason: null,
            stop_sequence: null,
            usage: { input_tokens, output_tokens: 1 },
          },
        },
        'message_start',
      ),
      sse(
        { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
        'content_block_start',
      ),
      sse(
        { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'ok' } },
        'content_block_delta',
      ),
      sse({ type: 'content_block_stop', index: 0 }, 'content_block_stop'),
      sse(
        {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn', stop_sequence: null },
          usage: { output_tokens },
        },
        'message_delta',
      ),
      sse({ type: 'message_stop' }, 'message_stop'),
    ];
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
