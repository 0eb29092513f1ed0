import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Priority } from '../../src/backends/types.js';
import { DemoUpstream } from '../../src/server/demo-upstream.js';
import { createServer, type RatekeeperServer } from '../../src/server/index.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * The upstream counts a message when it arrives, ratekeeper when it admits it; on this shared 2-core
 * machine the time between the two spreads by up to ~300 ms under load, so the service's windows are
 * this much longer than the upstream's (see DemoUpstream.serviceLimits).
 */
const HEADROOM_MS = Number(process.env.RK_HEADROOM_MS ?? 500);

async function sumMetric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (match) total += Number(match[1]);
  }
  return total;
}

describe('the service against the demo upstream (real HTTP, real time, SQLite)', () => {
  it('delivers 2,000 messages over 50 chats without one 429, each exactly once', async () => {
    const upstream = new DemoUpstream({
      global: { limit: 300, window: '1s' },
      perChat: { limit: 4, window: '1s' },
    });
    await upstream.listen();
    cleanups.push(() => upstream.close());
    const dir = mkdtempSync(join(tmpdir(), 'rk-acceptance-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const limits = upstream.serviceLimits(HEADROOM_MS);
    const server: RatekeeperServer = createServer({
      listen: '127.0.0.1:0',
      backend: `sqlite:${join(dir, 'rk.db')}`,
      log: { level: 'silent' },
      // Few deliveries in flight: on a loaded machine, many concurrent requests queue for the CPU and
      // spread the time from admission to arrival (64 in flight: seconds; 8: about a hundred ms).
      manager: { capacity: 100_000, duration: '1m', scopes: limits.scopes, concurrency: 8 },
      targets: { demo: limits.target },
    });
    const url = await server.listen();
    cleanups.push(() => server.close());
    // A retry would mean a timeout or an error: a message the upstream may have taken twice.
    const retries: string[] = [];
    server.manager.on('retry', ({ ids, error }) => retries.push(`${ids[0]}: ${(error as Error).message}`));

    const total = 2_000;
    const chats = 50;
    const priorities: Priority[] = ['critical', 'normal', 'normal', 'normal', 'optional'];
    const statuses = new Map<string, string>();
    for (let start = 0; start < total; start += chats) {
      await Promise.all(
        Array.from({ length: chats }, async (_, k) => {
          const i = start + k;
          const id = `m${i}`;
          const chat = i % chats;
          const response = await fetch(`${url}/v1/messages`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({
              target: 'demo',
              priority: priorities[i % priorities.length],
              messages: [{ id, payload: { chat_id: chat, id, text: `hello ${i}` }, scopes: `chat:${chat}` }],
            }),
          });
          expect(response.status).toBe(200);
          statuses.set(id, ((await response.json()) as { status: string }).status);
        }),
      );
    }
    const dropped = [...statuses.values()].filter((s) => s.startsWith('dropped')).length;
    const deadline = Date.now() + 150_000;
    while (upstream.stats().delivered < total - dropped && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const seen = upstream.stats();
    expect(seen).toMatchObject({ tooManyRequests: 0, duplicates: 0, badRequests: 0 });
    expect(retries).toEqual([]);
    expect(await sumMetric(url, 'ratekeeper_upstream_429_total')).toBe(0);
    expect(seen.delivered).toBe(total - dropped);
    // Every message is accounted for: delivered exactly once, or dropped with a status that says so.
    for (const [id, status] of statuses) {
      if (status.startsWith('dropped')) expect(upstream.delivered(id)).toBe(0);
      else expect(upstream.delivered(id), id).toBe(1);
    }
    const stats = await server.manager.stats();
    expect(stats.queued).toEqual({ critical: 0, normal: 0, optional: 0 });
    expect(stats.retrying + stats.deadLettered).toBe(0);
  }, 200_000);
});
