/**
 * One process of the server bench, so that the load generator (autocannon, in the parent) never shares
 * an event loop with a server. Usage: node --import tsx bench/children/http-server.ts SIDE DIR [SINK_URL]
 *
 * - `ours`: the service (`createServer`) on SQLite in DIR, delivering every message to SINK_URL (no
 *   limits, a quota that never runs out: the bench measures the service's own work).
 * - `bare`: a fastify route that parses the same body and answers the same shape: the ceiling of any
 *   fastify service on this machine.
 * - `sink`: the receiver of `ours`: a node:http server answering 200 at once.
 *
 * Prints `READY <url>` once listening; exits when stdin closes.
 */
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Fastify from 'fastify';
import { createServer } from '../../src/server/index.js';

const [side, dir, sinkUrl] = process.argv.slice(2);

async function sink(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createHttpServer((request, response) => {
    request.resume();
    request.on('end', () => response.end('{"ok":true}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function ours(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer({
    listen: '127.0.0.1:0',
    backend: `sqlite:${join(dir!, 'bench.db')}`,
    log: { level: 'silent' },
    manager: { capacity: 1_000_000_000, duration: '1m', concurrency: 256 },
    targets: { sink: { url: `${sinkUrl}/deliver` } },
  });
  const url = await server.listen();
  return { url, close: () => server.close() };
}

async function bare(): Promise<{ url: string; close(): Promise<void> }> {
  const app = Fastify();
  app.post('/v1/messages', async (request) => {
    const body = request.body as { messages: Array<{ id: string }> };
    return { status: 'passed-to-sender', ids: body.messages.map((m) => m.id) };
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { url, close: () => app.close() };
}

const sides: Record<string, () => Promise<{ url: string; close(): Promise<void> }>> = { ours, bare, sink };
const make = side === undefined ? undefined : sides[side];
if (!make) throw new Error(`usage: http-server.ts ours|bare|sink DIR [SINK_URL] (got ${side})`);
const running = await make();
process.stdout.write(`READY ${running.url}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void running.close().then(() => process.exit(0));
});
