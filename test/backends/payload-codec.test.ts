import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeMessages, encodePayload, UnstorablePayloadError } from '../../src/backends/payload-codec.js';
import { isRateKeeperError } from '../../src/core/errors.js';

function refusal(payload: unknown): UnstorablePayloadError {
  try {
    encodePayload(payload, 'm1', 'SQLite');
  } catch (error) {
    expect(error).toBeInstanceOf(UnstorablePayloadError);
    return error as UnstorablePayloadError;
  }
  throw new Error(`accepted ${String(payload)}`);
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

describe('encodePayload', () => {
  it('keeps what JSON gives back identical, as JSON.stringify writes it', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.k = 'v';
    const payloads: unknown[] = [
      null,
      true,
      false,
      0,
      -1.5,
      2 ** 60,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
      '',
      'héllo \u{1F600} "quoted" \n',
      'lone surrogate \ud800',
      [],
      {},
      [1, 'two', null, [3], { four: 4 }],
      { chatId: 42, text: 'hi', at: '2026-12-01T00:00:00.000Z', nested: { deep: { list: [[], {}] } } },
      { __proto__key: 1, 'with space': 2, '': 3, 0: 4 },
      bare,
    ];
    for (const payload of payloads) {
      const text = encodePayload(payload, 'm1', 'SQLite');
      expect(text).toBe(JSON.stringify(payload));
      expect(JSON.parse(text)).toEqual(payload);
    }
  });

  it('shares are fine (JSON copies them); only cycles are refused', () => {
    const shared = { a: 1 };
    expect(JSON.parse(encodePayload({ x: shared, y: [shared, shared] }, 'm1', 'Redis'))).toEqual({
      x: { a: 1 },
      y: [{ a: 1 }, { a: 1 }],
    });
  });

  it.each([
    [
      'a Date',
      { meta: { at: new Date(0) } },
      'payload.meta.at',
      /is a Date; SQLite keeps JSON: send an ISO string/,
    ],
    [
      'a Map',
      { tags: new Map([['a', 1]]) },
      'payload.tags',
      /is a Map; .*send an object or an array of \[key, value\]/,
    ],
    ['a Set', [new Set([1])], 'payload[0]', /is a Set; .*send an array/],
    ['undefined in an object', { a: { b: undefined } }, 'payload.a.b', /is undefined; .*drops the key/],
    ['undefined in an array', [1, undefined], 'payload[1]', /is undefined; .*turns it into null/],
    // biome-ignore lint/suspicious/noSparseArray: the case under test
    ['a hole in an array', [1, , 3], 'payload[1]', /is a hole; .*turns it into null/],
    ['undefined itself', undefined, 'payload', /is undefined; .*send null/],
    ['a function', { f: () => 1 }, 'payload.f', /is a function/],
    ['a symbol', { s: Symbol('x') }, 'payload.s', /is a symbol/],
    ['a symbol key', { [Symbol('k')]: 1 }, 'payload', /has a symbol key/],
    ['a bigint', { n: 10n }, 'payload.n', /is a bigint; .*send a string/],
    ['NaN', { n: Number.NaN }, 'payload.n', /is NaN; .*turns it into null/],
    ['Infinity', [Number.NEGATIVE_INFINITY], 'payload[0]', /is -Infinity; .*turns it into null/],
    ['-0', { z: -0 }, 'payload.z', /is -0; .*turns it into 0/],
    ['a class instance', { p: new Point(1, 2) }, 'payload.p', /is a Point instance; .*send a plain object/],
    ['a Buffer', { b: Buffer.from('hi') }, 'payload.b', /is a Buffer; .*base64/],
    ['a typed array', { b: new Uint8Array(2) }, 'payload.b', /is a Uint8Array; .*base64/],
    ['a RegExp', { r: /x/ }, 'payload.r', /is a RegExp/],
    ['an Error', { e: new Error('boom') }, 'payload.e', /is an Error/],
    ['a boxed string', { s: new String('x') }, 'payload.s', /is a String object/],
    ['an odd key', { 'a b': { c: new Date(0) } }, 'payload["a b"].c', /is a Date/],
  ])('refuses %s, naming the path', (_name, payload, path, message) => {
    const error = refusal(payload);
    expect(error.path).toBe(path);
    expect(error.messageId).toBe('m1');
    expect(error.message).toContain(`the payload of message "m1" cannot be stored: ${path} `);
    expect(error.message).toMatch(message);
    expect(isRateKeeperError(error, 'ERR_BACKEND')).toBe(true);
  });

  it('refuses a cycle, naming where it points back to', () => {
    const a: Record<string, unknown> = { list: [] };
    (a.list as unknown[]).push({ back: a });
    const error = refusal({ a });
    expect(error.path).toBe('payload.a.list[0].back');
    expect(error.message).toMatch(/refers back to payload\.a \(a cycle\)/);
  });

  it('refuses a payload nested deeper than the stack, without crashing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(refusal(deep).message).toMatch(/payload is nested too deeply/);
  });

  it('refuses a getter that throws with its error as the cause', () => {
    const payload = {
      get boom(): never {
        throw new Error('no');
      },
    };
    const error = refusal(payload);
    expect(error.message).toMatch(/no/);
    expect((error.cause as Error).message).toBe('no');
  });

  it('accepts exactly what round-trips through JSON (random values)', () => {
    fc.assert(
      fc.property(
        fc.anything({
          // Leaves JSON keeps and leaves it changes (fc.double() alone rarely gives -0, NaN or ±Infinity).
          values: [
            fc.boolean(),
            fc.integer(),
            fc.double(),
            fc.constantFrom(0, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
            fc.string({ unit: 'binary' }),
            fc.constant(null),
            fc.constant(undefined),
          ],
          withDate: true,
          withMap: true,
          withSet: true,
          withBigInt: true,
          withNullPrototype: true,
          withSparseArray: true,
          withBoxedValues: true,
          withTypedArray: true,
        }),
        (value) => {
          let text: string | undefined;
          try {
            text = encodePayload(value, 'm', 'Redis');
          } catch (error) {
            if (!(error instanceof UnstorablePayloadError)) throw error;
          }
          const json = JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
          const roundTrips =
            json !== undefined && !/"-?\d+n"/.test(json) ? sameValue(JSON.parse(json), value) : false;
          expect(text !== undefined).toBe(roundTrips);
          if (text !== undefined) expect(text).toBe(JSON.stringify(value));
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

/** Deep equality that tells -0 from 0, a Date from a string, a hole from null, a missing key from undefined. */
function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  const protoB = Object.getPrototypeOf(b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (!Array.isArray(b) && protoB !== Object.prototype && protoB !== null) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length || Object.getOwnPropertySymbols(b).length > 0) return false;
  if (Array.isArray(b) && keysB.length !== b.length) return false;
  return keysB.every(
    (k) =>
      Object.hasOwn(a, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

describe('encodeMessages', () => {
  it('writes the messages as JSON once every payload passed', () => {
    const messages = [
      { id: 'a', payload: { n: 1 } },
      { id: 'b', payload: 'x' },
    ];
    expect(encodeMessages(messages, 'Redis')).toBe(JSON.stringify(messages));
  });

  it('names the message whose payload is refused', () => {
    expect(() =>
      encodeMessages(
        [
          { id: 'a', payload: 1 },
          { id: 'b', payload: { at: new Date(0) } },
        ],
        'Redis',
      ),
    ).toThrow(/the payload of message "b" cannot be stored: payload\.at is a Date; Redis keeps JSON/);
  });
});
