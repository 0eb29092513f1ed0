import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One call the receiver answered. */
export interface Call {
  endpoint: string;
  id: string;
  at: number;
  status: number;
  /** The `x-worker` header of the call (the worker process's pid), '' without one. */
  worker: string;
}

/**
 * Local HTTP endpoints (node:http on 127.0.0.1) that enforce their own limits like a real API: at most
 * `limit` calls in any `windowMs` (an ideal sliding window), 429 beyond it (counted as a violation), a
 * deterministic share of 500s, and a response after `delayMs`.
 */
export class HttpReceiver {
  readonly calls: Call[] = [];
  violations = 0;
  #server: Server | undefined;
  #seed = 12345;

  constructor(
    readonly endpoints: Record<string, { limit: number; windowMs: number; delayMs: number }>,
    readonly failRate = 0.05,
  ) {}

  /** A reproducible pseudo-random number in [0, 1). */
  #random(): number {
    this.#seed = (this.#seed * 1103515245 + 12345) % 2 ** 31;
    return this.#seed / 2 ** 31;
  }

  async start(): Promise<string> {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => {
        const at = Date.now();
        const endpoint = (req.url ?? '').slice(1);
        const rule = this.endpoints[endpoint];
        const id = (JSON.parse(body || '{}') as { id?: string }).id ?? '';
        if (!rule) {
          res.writeHead(404).end();
          return;
        }
        const recent = this.calls.filter((c) => c.endpoint === endpoint && c.at > at - rule.windowMs);
        let status = 200;
        if (recent.length >= rule.limit) {
          this.violations++;
          status = 429;
        } else if (this.#random() < this.failRate) status = 500;
        this.calls.push({ endpoint, id, at, status, worker: String(req.headers['x-worker'] ?? '') });
        setTimeout(
          () => res.writeHead(status, { 'content-type': 'application/json' }).end('{}'),
          rule.delayMs,
        );
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  /** Ids the receiver answered 200 for, per call order. */
  succeeded(filter: (call: Call) => boolean = () => true): string[] {
    return this.calls.filter((c) => c.status === 200 && filter(c)).map((c) => c.id);
  }
}

/** A run handler that POSTs the job to its endpoint and throws on anything but 2xx. */
export function httpHandler(base: string) {
  return async (job: { id: string }, context: { endpoint: string; signal: AbortSignal }) => {
    const response = await fetch(`${base}/${context.endpoint}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: job.id }),
      signal: context.signal,
    });
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`HTTP ${response.status} from ${context.endpoint}`);
  };
}
