/**
 * Payloads of the stores that keep JSON (SQLite, Redis). A payload is stored only if `JSON.parse` gives back
 * a value identical to it; anything else is refused when the batch is added — on the direct path too, which
 * goes through `add` as well — so the sender gets the same value whichever path a message took.
 *
 * What survives: `null`, booleans, strings (lone surrogates included), finite numbers other than `-0`, arrays
 * without holes, and plain objects (`{}` literals; an object without prototype comes back as a plain object
 * with the same keys). What is refused, with the path inside the payload: `undefined` (a key JSON would drop,
 * an array slot or a hole JSON would turn into `null`), functions, symbols and symbol keys, bigint, `NaN`,
 * `±Infinity`, `-0`, `Date`, `Map`, `Set`, `RegExp`, errors, buffers and typed arrays, boxed primitives,
 * class instances and cycles. (The memory backend keeps payloads by reference and refuses nothing.)
 *
 * The check is one walk over the payload, then one native `JSON.stringify`.
 */
import { BackendError } from '../core/errors.js';
import type { QueuedMessage } from './types.js';

/** A payload a JSON-keeping store refused: it would not come back identical. `code` is `ERR_BACKEND`. */
export class UnstorablePayloadError extends BackendError {
  /** The message whose payload was refused. */
  readonly messageId: string;
  /** Where inside the payload, e.g. `payload.meta.at`. */
  readonly path: string;
  constructor(messageId: string, path: string, reason: string, options?: { cause?: unknown }) {
    super(`the payload of message ${JSON.stringify(messageId)} cannot be stored: ${path} ${reason}`, options);
    this.messageId = messageId;
    this.path = path;
  }
}

/** Why a value cannot be kept, found at the path `segments` (innermost first; joined on the way out). */
interface Problem {
  segments: string[];
  /** What the value is, e.g. `is a Date`. */
  what: string;
  /** What to send instead, e.g. `send an ISO string (date.toISOString())`. */
  hint: string;
  /** For a cycle: how many segments deep the object it points back to is. */
  backTo?: number;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

function keySegment(key: string): string {
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

function problem(what: string, hint: string): Problem {
  return { segments: [], what, hint };
}

/** What an object with a foreign prototype is, and what to send instead. */
function foreignObject(value: object): Problem {
  if (value instanceof Date) return problem('is a Date', 'send an ISO string (date.toISOString())');
  if (value instanceof Map) return problem('is a Map', 'send an object or an array of [key, value] pairs');
  if (value instanceof Set) return problem('is a Set', 'send an array');
  if (value instanceof RegExp) return problem('is a RegExp', 'send its source as a string');
  if (value instanceof Error) return problem('is an Error', 'send its message as a string');
  if (Buffer.isBuffer(value)) return problem('is a Buffer', 'send a base64 string');
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) {
    return problem(`is a ${value.constructor.name}`, 'send a base64 string or an array of numbers');
  }
  if (value instanceof String || value instanceof Number || value instanceof Boolean) {
    return problem(`is a ${value.constructor.name} object`, 'send the primitive value');
  }
  if (Array.isArray(value)) return problem('is an array subclass', 'send a plain array');
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  const what = typeof name === 'string' && name !== '' ? `is a ${name} instance` : 'is not a plain object';
  return problem(what, 'send a plain object');
}

/**
 * The first reason `value` would not survive JSON, or undefined. `inArray` picks the advice for
 * `undefined`; `open` holds the objects being walked, outermost first (a cycle points back to one of them).
 */
function check(value: unknown, inArray: boolean, open: object[]): Problem | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      if (value === 0 && 1 / value < 0) return problem('is -0', 'JSON turns it into 0: send 0');
      if (Number.isFinite(value)) return undefined;
      return problem(`is ${value}`, 'JSON turns it into null: send null or a string');
    case 'undefined':
      return problem(
        'is undefined',
        inArray ? 'JSON turns it into null: send null' : 'JSON drops the key: omit the key or send null',
      );
    case 'bigint':
      return problem('is a bigint', 'send a string (or a number when it is a safe integer)');
    case 'function':
      return problem('is a function', 'JSON drops functions: send data only');
    case 'symbol':
      return problem('is a symbol', 'JSON drops symbols: send a string');
  }
  if (value === null) return undefined;
  const object = value as object;
  const back = open.indexOf(object);
  if (back >= 0) {
    return {
      segments: [],
      what: 'refers back to',
      hint: 'JSON cannot keep cycles: send a tree',
      backTo: back,
    };
  }
  const proto = Object.getPrototypeOf(object);
  const isArray = proto === Array.prototype && Array.isArray(object);
  if (!isArray && proto !== Object.prototype && proto !== null) return foreignObject(object);
  if (Object.getOwnPropertySymbols(object).length > 0) {
    return problem('has a symbol key', 'JSON drops symbol keys: use string keys');
  }
  open.push(object);
  let found: Problem | undefined;
  if (isArray) {
    const array = object as unknown[];
    for (let i = 0; i < array.length; i++) {
      const item = array[i];
      found =
        item === undefined && !(i in array)
          ? problem('is a hole', 'JSON turns it into null: send null')
          : check(item, true, open);
      if (found) {
        found.segments.push(`[${i}]`);
        break;
      }
    }
  } else {
    const record = object as Record<string, unknown>;
    for (const key in record) {
      found = check(record[key], false, open);
      if (found) {
        found.segments.push(keySegment(key));
        break;
      }
    }
  }
  open.pop();
  return found;
}

/** Throws {@link UnstorablePayloadError} when `payload` would not come back from JSON identical. */
function assertStorable(payload: unknown, messageId: string, backend: string): void {
  let found: Problem | undefined;
  try {
    found = check(payload, false, []);
  } catch (error) {
    // Nesting deeper than the stack, or a getter that throws.
    const reason =
      error instanceof RangeError
        ? `is nested too deeply (${error.message}); ${backend} keeps JSON: send a flatter value`
        : `cannot be read: ${error instanceof Error ? error.message : String(error)}`;
    throw new UnstorablePayloadError(messageId, 'payload', reason, { cause: error });
  }
  if (!found) return;
  const inner = found.segments.reverse();
  const path = `payload${inner.join('')}`;
  const what =
    found.backTo === undefined
      ? found.what
      : `${found.what} payload${inner.slice(0, found.backTo).join('')} (a cycle)`;
  const hint = payload === undefined ? 'JSON cannot keep it: send null' : found.hint;
  throw new UnstorablePayloadError(messageId, path, `${what}; ${backend} keeps JSON: ${hint}`);
}

/** JSON.stringify, with its own failures (a getter that throws) as {@link UnstorablePayloadError}. */
function stringify(value: unknown, messageId: string): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new UnstorablePayloadError(messageId, 'payload', `cannot be written as JSON: ${reason}`, {
      cause: error,
    });
  }
}

/**
 * The JSON text of one payload, refused unless JSON gives it back identical (see the module description).
 * @param backend names the store in the error message, e.g. `'SQLite'`.
 * @throws UnstorablePayloadError naming the message and the path inside the payload.
 */
export function encodePayload(payload: unknown, messageId: string, backend: string): string {
  assertStorable(payload, messageId, backend);
  return stringify(payload, messageId);
}

/**
 * The JSON text of a batch's messages (`[{ id, payload }, …]`), refused unless every payload comes back
 * identical.
 * @throws UnstorablePayloadError naming the first message refused and the path inside its payload.
 */
export function encodeMessages(messages: ReadonlyArray<QueuedMessage<unknown>>, backend: string): string {
  for (const message of messages) assertStorable(message.payload, message.id, backend);
  return stringify(messages, messages[0]?.id ?? '');
}
