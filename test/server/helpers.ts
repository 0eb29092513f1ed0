import { Writable } from 'node:stream';
import { FakeClock } from '../../src/core/clock.js';
import type { ServerConfigInput } from '../../src/server/config.js';
import { createServer, type RatekeeperServer } from '../../src/server/index.js';

export const T0 = 1_700_000_000_000;

/** Collects log lines in memory. */
export function logSink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream, text: () => lines.join('\n') };
}

export interface Running {
  server: RatekeeperServer;
  url: string;
  clock: FakeClock;
  logs: ReturnType<typeof logSink>;
  /** fetch against the service, JSON in and out. */
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
    // biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field in assertions
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

/** A real service on 127.0.0.1:0 (memory backend unless told), on a fake clock. */
export async function startService(
  config: ServerConfigInput,
  options: { clock?: FakeClock; token?: string; random?: () => number } = {},
): Promise<Running> {
  const clock = options.clock ?? new FakeClock(T0);
  const logs = logSink();
  const server = createServer(
    { listen: '127.0.0.1:0', backend: 'memory', ...config },
    { clock, logStream: logs.stream, env: {}, random: options.random ?? (() => 0.5) },
  );
  const url = await server.listen();
  const call: Running['call'] = async (method, path, body, headers = {}) => {
    const response = await fetch(url + path, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: response.status, body: parsed, headers: response.headers };
  };
  return { server, url, clock, logs, call, close: () => server.close() };
}
