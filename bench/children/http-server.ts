/**
 * One process of the server bench, so that the load generator (autocannon, in the parent) never shares
 * an event loop with a server. Usage: node --import tsx bench/children/http-server.ts SIDE DIR [SINK_URL]
 *
 * - `ours`: the service (`createServer`) on SQLite in DIR, delivering every message to SINK_URL (no
 *   limits, a quota that never runs out: the bench measures the service's own work).
 * - `bare`: a fastify route that parses the same body and answers the same shape: the ceiling of any
 *   fastify service on this machine.
 * - `durable`: the ceiling of any durable delivering design: the bare route plus what every such design
 *   must do per message, written as cheaply as we know how — its row inserted in SQLite (WAL,
 *   synchronous NORMAL: the settings of ours) in one transaction per event-loop turn, answered after that
 *   commit, then POSTed to SINK_URL over a node:http keep-alive agent and marked delivered (in the next
 *   turn's transaction). No limits, priorities, leases, retries or status records: a floor, not a service.
 * - `sink`: the receiver of `ours` and `durable`: a node:http server answering 200 at once.
 *
 * Prints `READY <url>` once listening; exits when stdin closes.
 */
import { Agent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
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

async function durable(): Promise<{ url: string; close(): Promise<void> }> {
  const db = new Database(join(dir!, 'durable.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(
    'CREATE TABLE msg (id TEXT PRIMARY KEY, payload TEXT NOT NULL, delivered INTEGER NOT NULL DEFAULT 0)',
  );
  const insert = db.prepare('INSERT INTO msg (id, payload) VALUES (?, ?)');
  const deliver = db.prepare('UPDATE msg SET delivered = 1 WHERE id = ?');
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const target = new URL(`${sinkUrl}/deliver`);
  let pending: Array<{ id: string; payload: string; done: () => void }> = [];
  let delivered: string[] = [];
  let scheduled = false;
  const post = (id: string, payload: string, tries = 0) => {
    const req = httpRequest(
      target,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        res.resume();
        res.on('end', () => {
          delivered.push(id);
          schedule();
        });
      },
    );
    // A kept-alive socket the sink closed as this request went out ("socket hang up"): send it again on
    // another, as a sender retries a delivery that never arrived (unhandled, it ended the whole bench).
    req.on('error', (error) => {
      if (tries < 3) post(id, payload, tries + 1);
      else console.error(`ceiling side: ${id} not delivered: ${error.message}`);
    });
    req.end(payload);
  };
  // One transaction per event-loop turn: this turn's offers and the last turn's deliveries.
  const flush = () => {
    scheduled = false;
    const offers = pending;
    const done = delivered;
    pending = [];
    delivered = [];
    begin.run();
    for (const m of offers) insert.run(m.id, m.payload);
    for (const id of done) deliver.run(id);
    commit.run();
    for (const m of offers) {
      m.done();
      post(m.id, m.payload);
    }
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  const app = Fastify();
  app.post('/v1/messages', (request, reply) => {
    const body = request.body as { messages: Array<{ id: string; payload: unknown }> };
    const m = body.messages[0]!;
    pending.push({
      id: m.id,
      payload: JSON.stringify(m.payload),
      done: () => void reply.send({ status: 'passed-to-sender', ids: [m.id] }),
    });
    schedule();
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    close: async () => {
      await app.close();
      agent.destroy();
      db.close();
    },
  };
}

const sides: Record<string, () => Promise<{ url: string; close(): Promise<void> }>> = {
  ours,
  bare,
  durable,
  sink,
};
const make = side === undefined ? undefined : sides[side];
if (!make) throw new Error(`usage: http-server.ts ours|bare|durable|sink DIR [SINK_URL] (got ${side})`);
const running = await make();
process.stdout.write(`READY ${running.url}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void running.close().then(() => process.exit(0));
});
