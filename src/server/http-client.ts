import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** What the sender reads of an answer (the body is drained, so the connection is reused). */
export interface HttpAnswer {
  status: number;
  /** The `Retry-After` header, if any. */
  retryAfter: string | undefined;
}

export interface HttpCall {
  method: string;
  headers: Readonly<Record<string, string>>;
  body: string;
  /** Whole call, connect to the last byte of the answer. */
  timeoutMs: number;
}

/** Raised when a call gets no complete answer within its `timeoutMs`. */
export class HttpTimeoutError extends Error {
  readonly code = 'ERR_HTTP_TIMEOUT' as const;
  constructor(url: string, ms: number) {
    super(`no answer from ${url} within ${ms}ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * The service's outgoing HTTP: node:http(s) on keep-alive agents, one per protocol, shared by every
 * endpoint. Cheaper per call than `fetch` (no web streams, no per-call AbortSignal) — the sender makes one
 * call per message. Redirects are not followed (a 3xx is an answer like any other).
 */
export class HttpClient {
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;
  /** Parsed endpoint URLs (the config names a handful). */
  readonly #urls = new Map<string, URL>();

  /** @param maxSockets open connections per origin at most (calls beyond wait for one). */
  constructor(maxSockets = 256) {
    const options = { keepAlive: true, maxSockets, scheduling: 'lifo' as const };
    this.#http = new HttpAgent(options);
    this.#https = new HttpsAgent(options);
  }

  /** Sends one call; resolves once the whole answer arrived, rejects on network errors and timeouts. */
  send(url: string, call: HttpCall): Promise<HttpAnswer> {
    let parsed = this.#urls.get(url);
    if (!parsed) {
      parsed = new URL(url);
      this.#urls.set(url, parsed);
    }
    const secure = parsed.protocol === 'https:';
    const body = Buffer.from(call.body);
    return new Promise<HttpAnswer>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, answer?: HttpAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(answer!);
      };
      const onAnswer = (response: IncomingMessage) => {
        const retryAfter = response.headers['retry-after'];
        const answer = { status: response.statusCode ?? 0, retryAfter };
        response.on('error', (error) => finish(error));
        response.on('end', () => finish(undefined, answer));
        response.resume();
      };
      const options = {
        method: call.method,
        headers: { ...call.headers, 'content-length': String(body.length) },
        agent: secure ? this.#https : this.#http,
      };
      const req = secure ? httpsRequest(parsed, options, onAnswer) : httpRequest(parsed, options, onAnswer);
      const timer = setTimeout(() => {
        const error = new HttpTimeoutError(url, call.timeoutMs);
        finish(error);
        req.destroy(error);
      }, call.timeoutMs);
      req.on('error', (error) => finish(error));
      req.end(body);
    });
  }

  /** Destroys every connection: call once the calls in flight have ended. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
