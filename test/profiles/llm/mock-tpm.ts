/**
 * A local receiver that counts tokens per sliding window, as an LLM provider does: each POST carries
 * `{ tokens, admittedAt? }` (the call's real usage, and when the caller's limiter admitted it), counted at
 * `admittedAt` (else at arrival); a call that would take the window above the
 * limit is answered 429 (and not counted). `maxInAnyWindow()` is the most tokens that arrived (admitted or
 * not) in any interval of the window's length: what the callers sent, whatever the receiver made of it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export class TpmReceiver {
  readonly windowMs: number;
  readonly limit: number;
  readonly delayMs: number;
  readonly admitted: Array<{ at: number; tokens: number }> = [];
  /** Every call that arrived, admitted or not. */
  readonly arrivals: Array<{ at: number; tokens: number }> = [];
  refused = 0;
  /** The longest time from a caller's admission (`admittedAt` in the body, wall clock) to arrival here. */
  maxLagMs = 0;
  #server: Server;

  private constructor(server: Server, windowMs: number, limit: number, delayMs: number) {
    this.#server = server;
    this.windowMs = windowMs;
    this.limit = limit;
    this.delayMs = delayMs;
  }

  static async start(options: { windowMs: number; limit: number; delayMs?: number }): Promise<TpmReceiver> {
    const server = createServer();
    const receiver = new TpmReceiver(server, options.windowMs, options.limit, options.delayMs ?? 10);
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const arrived = Date.now();
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { tokens: number; admittedAt?: number };
        const { tokens } = body;
        // Counted when the caller was admitted (stamped in the body): on a loaded machine a request can take
        // a second from the caller's admission to this handler; a deployment absorbs that with its margin.
        const at = body.admittedAt ?? arrived;
        receiver.maxLagMs = Math.max(receiver.maxLagMs, arrived - at);
        const used = receiver.#usedSince(at - receiver.windowMs);
        const ok = used + tokens <= receiver.limit;
        receiver.arrivals.push({ at, tokens });
        if (ok) receiver.admitted.push({ at, tokens });
        else receiver.refused++;
        setTimeout(() => {
          res.writeHead(ok ? 200 : 429, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok }));
        }, receiver.delayMs);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/`;
  }

  #usedSince(from: number): number {
    let used = 0;
    for (const entry of this.admitted) if (entry.at > from) used += entry.tokens;
    return used;
  }

  /** The most tokens that arrived in any interval of `windowMs` (each arrival starting one). */
  maxInAnyWindow(): number {
    const list = [...this.arrivals].sort((a, b) => a.at - b.at);
    let best = 0;
    let sum = 0;
    let start = 0;
    for (let end = 0; end < list.length; end++) {
      sum += list[end]!.tokens;
      while (list[end]!.at - list[start]!.at >= this.windowMs) sum -= list[start++]!.tokens;
      best = Math.max(best, sum);
    }
    return best;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
