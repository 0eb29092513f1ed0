/**
 * Token counting: OpenAI models with gpt-tokenizer, others with the documented heuristic, and Gemini's
 * countTokens over HTTP against a local server that answers as the API does.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRateKeeperError } from '../../../src/core/errors.js';
import { UpstreamError } from '../../../src/profiles/llm/errors.js';
import {
  countGeminiTokens,
  estimateTokens,
  heuristicTokens,
  openaiEncoding,
} from '../../../src/profiles/llm/tokens.js';
import { freePort } from '../../helpers/redis.js';

describe('estimateTokens', () => {
  it('uses the model’s OpenAI encoding', async () => {
    expect(openaiEncoding('gpt-4o-mini')).toBe('o200k_base');
    expect(openaiEncoding('o3-mini')).toBe('o200k_base');
    expect(openaiEncoding('gpt-4-turbo')).toBe('cl100k_base');
    expect(openaiEncoding('claude-sonnet-4')).toBeUndefined();
    expect(await estimateTokens('gpt-4o', 'hello world')).toBe(2);
    expect(await estimateTokens('gpt-4', 'hello world')).toBe(2);
    // Special-token text in a prompt is counted as text, not refused.
    expect(await estimateTokens('gpt-4o', 'a <|endoftext|> b')).toBeGreaterThan(3);
  });

  it('adds the chat format overhead per message and for the reply', async () => {
    const text = await estimateTokens('gpt-4o', 'Say hello');
    const chat = await estimateTokens('gpt-4o', [
      { role: 'system', content: 'Say hello' },
      { role: 'user', content: [{ type: 'text', text: 'Say hello' }] },
    ]);
    // 'system' and 'user' are one token each.
    expect(chat).toBe(3 + 2 * (3 + 1 + text));
  });

  it('other models: one token per 4 ASCII characters, one per other character, rounded up', async () => {
    expect(heuristicTokens('')).toBe(0);
    expect(heuristicTokens('abcd')).toBe(1);
    expect(heuristicTokens('abcde')).toBe(2);
    expect(heuristicTokens('日本語')).toBe(3);
    expect(await estimateTokens('claude-sonnet-4', 'x'.repeat(400))).toBe(100);
    expect(await estimateTokens('gemini-2.5-pro', [{ role: 'user', content: 'x'.repeat(40) }])).toBe(
      3 + (3 + 1) + 10,
    );
    await expect(estimateTokens('gpt-4o', 42 as unknown as string)).rejects.toMatchObject({ field: 'input' });
  });
});

describe('countGeminiTokens over HTTP', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ url: string; key: string | undefined; body: unknown }> = [];
  const read = (req: IncomingMessage) =>
    new Promise<string>((resolve) => {
      let data = '';
      req.on('data', (c) => {
        data += c;
      });
      req.on('end', () => resolve(data));
    });

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const body = JSON.parse((await read(req)) || '{}');
      seen.push({ url: req.url!, key: req.headers['x-goog-api-key'] as string | undefined, body });
      const model = /models\/([^:]+):countTokens/.exec(req.url!)?.[1];
      if (model === 'slow') return; // never answers
      if (model === 'garbage') return res.end('<html>oops</html>');
      if (req.headers['x-goog-api-key'] !== 'k') {
        res.writeHead(403, { 'content-type': 'application/json' });
        return res.end(
          JSON.stringify({ error: { code: 403, message: 'API key not valid', status: 'PERMISSION_DENIED' } }),
        );
      }
      const text = body.contents
        .flatMap((c: { parts: Array<{ text: string }> }) => c.parts.map((p) => p.text))
        .join('');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ totalTokens: text.length, promptTokensDetails: [] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('posts the contents to {base}/v1beta/models/{model}:countTokens with the key header', async () => {
    expect(
      await countGeminiTokens('gemini-2.5-pro', 'twelve chars', { apiKey: 'k', baseUrl: `${base}/` }),
    ).toBe(12);
    expect(seen.at(-1)).toEqual({
      url: '/v1beta/models/gemini-2.5-pro:countTokens',
      key: 'k',
      body: { contents: [{ role: 'user', parts: [{ text: 'twelve chars' }] }] },
    });
    const contents = [{ role: 'user', parts: [{ text: 'ab' }, { text: 'cd' }] }];
    expect(await countGeminiTokens('models/gemini-2.0-flash', contents, { apiKey: 'k', baseUrl: base })).toBe(
      4,
    );
  });

  it('uses an injected fetch', async () => {
    const calls: string[] = [];
    const spy: typeof fetch = (input, init) => {
      calls.push(String(input));
      return fetch(input, init);
    };
    await countGeminiTokens('gemini-2.5-pro', 'abc', { apiKey: 'k', baseUrl: base, fetch: spy });
    expect(calls).toEqual([`${base}/v1beta/models/gemini-2.5-pro:countTokens`]);
  });

  it('clear errors: HTTP status with the API message, bad body, timeout, no server', async () => {
    const denied = await countGeminiTokens('gemini-2.5-pro', 'x', { apiKey: 'wrong', baseUrl: base }).catch(
      (e) => e,
    );
    expect(denied).toBeInstanceOf(UpstreamError);
    expect(denied).toMatchObject({ code: 'ERR_UPSTREAM', status: 403 });
    expect(denied.message).toBe(
      `${base}/v1beta/models/gemini-2.5-pro:countTokens: HTTP 403: API key not valid`,
    );
    await expect(countGeminiTokens('garbage', 'x', { apiKey: 'k', baseUrl: base })).rejects.toThrow(
      /expected a JSON body with totalTokens, received <html>oops/,
    );
    const slow = await countGeminiTokens('slow', 'x', { apiKey: 'k', baseUrl: base, timeout: '200ms' }).catch(
      (e) => e,
    );
    expect(isRateKeeperError(slow, 'ERR_UPSTREAM')).toBe(true);
    expect(slow.message).toMatch(/no answer within 200ms/);
    const port = await freePort();
    await expect(countGeminiTokens('m', 'x', { baseUrl: `http://127.0.0.1:${port}` })).rejects.toThrow(
      /request failed/,
    );
  });
});
