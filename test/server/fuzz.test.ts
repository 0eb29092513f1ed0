/**
 * 1,000 malformed requests (random JSON, wrong types, huge and deep bodies, bad ids and priorities,
 * missing or wrong auth) against a real service: each is a 4xx with a message, none a 5xx, the service
 * still answers and the queue is intact.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { type Running, startService, T0 } from './helpers.js';

const TOKEN = 'fuzz-token';
const LIMIT = 64 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'rk-fuzz-'));
let s: Running;

beforeAll(async () => {
  s = await startService(
    {
      backend: `sqlite:${join(dir, 'rk.db')}`,
      bodyLimit: LIMIT,
      auth: { tokens: [TOKEN] },
      log: { level: 'silent' },
      manager: { capacity: 1000, duration: '1m' },
      // Nothing listens there: queued messages stay queued (retrying) for the whole test.
      targets: { hooks: { url: 'http://127.0.0.1:9/deliver' } },
    },
    { clock: new FakeClock(T0), token: TOKEN },
  );
});
afterAll(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Attempt {
  method: string;
  path: string;
  body?: string;
  headers: Record<string, string>;
}

const json = { 'content-type': 'application/json' };
const auth = { authorization: `Bearer ${TOKEN}` };
const okMessage = { id: 'ok', payload: { text: 'hi' } };

/** A value of the wrong type for a field that wants `not`. */
const wrong = (not: 'string' | 'array' | 'object') =>
  fc.oneof(
    ...(not === 'string' ? [] : [fc.string()]),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    ...(not === 'array' ? [] : [fc.array(fc.integer(), { maxLength: 3 })]),
    ...(not === 'object' ? [] : [fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 3 })]),
  );

const nest = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const submit = (body: unknown, headers: Record<string, string> = { ...json, ...auth }): Attempt => ({
  method: 'POST',
  path: '/v1/messages',
  body: typeof body === 'string' ? body : JSON.stringify(body),
  headers,
});

const malformed: fc.Arbitrary<Attempt> = fc.oneof(
  // Random JSON that is not a submission.
  fc
    .jsonValue()
    .map((v) => submit(v))
    .filter((a) => !a.body!.includes('"messages"')),
  // Not JSON at all.
  fc
    .string({ minLength: 1, maxLength: 200 })
    .filter((t) => {
      try {
        JSON.parse(t);
        return false;
      } catch {
        return true;
      }
    })
    .map((t) => submit(t)),
  // Wrong types, field by field.
  wrong('string').map((target) => submit({ target, messages: [okMessage] })),
  wrong('array').map((messages) => submit({ target: 'hooks', messages })),
  wrong('object').map((m) => submit({ target: 'hooks', messages: [m] })),
  wrong('string').map((id) => submit({ target: 'hooks', messages: [{ id, payload: 1 }] })),
  fc
    .oneof(
      fc.string({ maxLength: 20 }).filter((p) => !['critical', 'normal', 'optional'].includes(p)),
      wrong('string'),
    )
    .map((priority) => submit({ target: 'hooks', priority, messages: [okMessage] })),
  fc
    .oneof(
      wrong('string').filter((v) => !Array.isArray(v)),
      fc.constant(''),
      fc.constant([1]),
    )
    .map((scopes) => submit({ target: 'hooks', scopes, messages: [okMessage] })),
  // Bad ids: empty, too long, duplicated in the batch.
  fc
    .constantFrom('', 'x'.repeat(300))
    .map((id) => submit({ target: 'hooks', messages: [{ id, payload: 1 }] })),
  fc.string({ minLength: 1, maxLength: 10 }).map((id) =>
    submit({
      target: 'hooks',
      messages: [
        { id, payload: 1 },
        { id, payload: 2 },
      ],
    }),
  ),
  // Unknown targets, missing fields, unknown fields, empty batches.
  fc
    .string({ minLength: 1, maxLength: 20 })
    .filter((t) => t !== 'hooks')
    .map((target) => submit({ target, messages: [okMessage] })),
  fc.constantFrom(
    submit({ target: 'hooks' }),
    submit({ messages: [okMessage] }),
    submit({ target: 'hooks', messages: [] }),
    submit({ target: 'hooks', messages: [{ id: 'x' }] }),
    submit({ target: 'hooks', messages: [okMessage], extra: 1 }),
    submit({ target: 'hooks', messages: [{ ...okMessage, more: 1 }] }),
    submit({
      target: 'hooks',
      messages: Array.from({ length: 1001 }, (_, i) => ({ id: `b${i}`, payload: i })),
    }),
    submit('{"target":"hooks","messages":[{"id":"p","payload":1}],"__proto__":{"polluted":true}}'),
    submit('{"target":"hooks","messages":[{"id":"p","payload":{"constructor":{"prototype":{"x":1}}}}]}'),
    submit('{"target":"hooks","__proto__":{"x":1},"messages":[]}'),
    submit(''),
  ),
  // Huge bodies (over the limit) and deep ones (payload or the whole body).
  fc
    .integer({ min: LIMIT + 1, max: 4 * LIMIT })
    .map((n) => submit({ target: 'hooks', messages: [{ id: 'big', payload: 'x'.repeat(n) }] })),
  fc
    .integer({ min: 65, max: 20_000 })
    .map((d) => submit(`{"target":"hooks","messages":[{"id":"deep","payload":${nest(d)}}]}`)),
  fc.integer({ min: 100, max: 30_000 }).map((d) => submit(nest(d))),
  // Wrong content types.
  fc
    .constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x')
    .map((type) =>
      submit(JSON.stringify({ target: 'hooks', messages: [okMessage] }), { 'content-type': type, ...auth }),
    ),
  // Missing or wrong auth, on every protected route.
  fc
    .tuple(
      fc.constantFrom(
        ['POST', '/v1/messages'],
        ['GET', '/v1/messages/ok'],
        ['GET', '/v1/quota'],
        ['GET', '/queue/stats'],
        ['GET', '/v1/dead-letters'],
        ['POST', '/v1/dead-letters/replay'],
        ['POST', '/v1/dead-letters/purge'],
        ['GET', '/metrics'],
      ),
      fc.oneof(
        fc.constant(undefined),
        fc.constantFrom('Bearer', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, TOKEN, `Bearer ${TOKEN.slice(1)}`),
        fc.string({ maxLength: 40 }).filter((v) => !v.includes(TOKEN) && /^[\x20-\x7e]*$/.test(v)),
      ),
    )
    .map(([[method, path], authorization]) => ({
      method: method!,
      path: path!,
      ...(method === 'POST' ? { body: JSON.stringify({ target: 'hooks', messages: [okMessage] }) } : {}),
      headers: {
        ...(method === 'POST' ? json : {}),
        ...(authorization === undefined ? {} : { authorization }),
      },
    })),
  // Bad dead-letter filters and limits; unknown routes.
  wrong('object').map((f) => ({
    method: 'POST',
    path: '/v1/dead-letters/replay',
    body: JSON.stringify(f),
    headers: { ...json, ...auth },
  })),
  fc.constantFrom('-1', 'abc', '1.5', '99999999').map((limit) => ({
    method: 'GET',
    path: `/v1/dead-letters?limit=${limit}`,
    headers: auth,
  })),
  fc
    .constantFrom('%', '%zz', 'x'.repeat(300))
    .map((id) => ({ method: 'GET', path: `/v1/messages/${id}`, headers: auth })),
  fc.webPath().map((p) => ({ method: 'DELETE', path: `/v1/${p.replace(/^\//, '')}`, headers: auth })),
);

describe('fuzz', () => {
  it('1,000 malformed requests: each a 4xx with a message, no 5xx; the service answers and the queue is intact', async () => {
    // Queue some real messages first (they wait: the target is down).
    for (let i = 0; i < 5; i++) {
      const ok = await s.call('POST', '/v1/messages', {
        target: 'hooks',
        messages: [{ id: `keep${i}`, payload: i }],
      });
      expect(ok.status).toBe(200);
    }
    const before = await s.server.manager.stats();
    const waiting = (st: typeof before) =>
      st.queued.critical + st.queued.normal + st.queued.optional + st.retrying + st.inFlight;
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(malformed, async (attempt) => {
        const response = await fetch(s.url + attempt.path, {
          method: attempt.method,
          headers: attempt.headers,
          ...(attempt.body === undefined ? {} : { body: attempt.body }),
        });
        const text = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status < 400 || response.status >= 500) {
          throw new Error(
            `${attempt.method} ${attempt.path} ${attempt.body?.slice(0, 200)} → ${response.status} ${text.slice(0, 200)}`,
          );
        }
        const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
        if (!body.error?.message || !body.error.code)
          throw new Error(`no error message: ${text.slice(0, 200)}`);
      }),
      { numRuns: 1000, seed: 20261201 },
    );
    expect([...statuses.keys()].every((code) => code >= 400 && code < 500)).toBe(true);
    expect(statuses.get(401)).toBeGreaterThan(0);
    expect(statuses.get(413)).toBeGreaterThan(0);
    // Still answering, the queue as it was, and a valid submission still works.
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    const after = await s.server.manager.stats();
    expect(waiting(after)).toBe(waiting(before));
    expect(after.deadLettered).toBe(before.deadLettered);
    for (let i = 0; i < 5; i++) expect((await s.call('GET', `/v1/messages/keep${i}`)).status).toBe(200);
    const ok = await s.call('POST', '/v1/messages', {
      target: 'hooks',
      messages: [{ id: 'after', payload: 1 }],
    });
    expect(ok.status).toBe(200);
  }, 120_000);
});
