import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/core/clock.js';
import { InvalidArgumentError, isInvalidArgumentError } from '../../src/core/errors.js';
import type { Rule } from '../../src/core/types.js';
import { RateLimiter } from '../../src/limiter/rate-limiter.js';

/** Runs `fn` (sync or async) and returns the InvalidArgumentError it throws or rejects with. */
async function invalid(fn: () => unknown): Promise<InvalidArgumentError> {
  let caught: unknown;
  try {
    await fn();
  } catch (error) {
    caught = error;
  }
  expect(caught, 'expected an InvalidArgumentError').toBeInstanceOf(InvalidArgumentError);
  const error = caught as InvalidArgumentError;
  expect(isInvalidArgumentError(error)).toBe(true);
  expect(error.code).toBe('ERR_INVALID_ARGUMENT');
  expect(error.message).toContain('expected');
  return error;
}

function withRule(rule: unknown): () => RateLimiter {
  return () => new RateLimiter({ scopes: { a: rule as Rule }, clock: new FakeClock() });
}

describe('RateLimiter input validation', () => {
  it.each([
    ['negative', -1],
    ['infinite', Number.POSITIVE_INFINITY],
    ['NaN', Number.NaN],
    ['a string', '5'],
    ['missing', undefined],
  ])('rejects a %s limit, naming the field', async (_, limit) => {
    const error = await invalid(withRule({ limit, window: '1s' }));
    expect(error.field).toBe('scopes[a].limit');
    expect(error.message).toMatch(/scopes\[a\]\.limit: expected a finite number >= 0/);
  });

  it.each([
    ['zero', 0, 'greater than zero'],
    ['zero as a string', '0ms', 'greater than zero'],
    ['negative', -1000, 'non-negative'],
    ['"10 parsecs"', '10 parsecs', "'1s'"],
    ['"-1s"', '-1s', "'1s'"],
    ['NaN', Number.NaN, 'non-negative'],
    ['infinite', Number.POSITIVE_INFINITY, 'non-negative'],
    ['empty', '', "'1s'"],
    ['missing', undefined, "'1s'"],
  ])('rejects a %s window', async (_, window, expected) => {
    const error = await invalid(withRule({ limit: 5, window }));
    expect(error.field).toBe('scopes[a].window');
    expect(error.message).toContain(expected);
  });

  it('rejects an unknown algorithm and lists the known ones', async () => {
    const error = await invalid(withRule({ limit: 5, window: '1s', algorithm: 'leaky-bucket' }));
    expect(error.field).toBe('scopes[a].algorithm');
    expect(error.message).toContain('sliding-window, token-bucket, fixed-window');
    expect(error.message).toContain('"leaky-bucket"');
  });

  it('rejects a bad burst, a burst without a token bucket, and an empty token bucket', async () => {
    expect(
      (await invalid(withRule({ limit: 5, window: '1s', algorithm: 'token-bucket', burst: -1 }))).field,
    ).toBe('scopes[a].burst');
    expect((await invalid(withRule({ limit: 5, window: '1s', burst: 10 }))).field).toBe('scopes[a].burst');
    expect((await invalid(withRule({ limit: 0, window: '1s', algorithm: 'token-bucket' }))).field).toBe(
      'scopes[a].limit',
    );
  });

  it('rejects rules with the same name in one scope, a bad unit, and a non-object rule', async () => {
    const twice = await invalid(
      () =>
        new RateLimiter({
          scopes: {
            a: [
              { limit: 1, window: 1000 },
              { limit: 2, window: 1000 },
            ],
          },
        }),
    );
    expect(twice.field).toBe('scopes[a]');
    expect((await invalid(withRule({ limit: 1, window: 1000, unit: '' }))).field).toBe('scopes[a].unit');
    expect((await invalid(withRule(null))).field).toBe('scopes[a]');
    expect(
      (
        await invalid(
          () => new RateLimiter({ scopes: { a: [{ limit: 1, window: 1000 }, 7 as unknown as Rule] } }),
        )
      ).field,
    ).toBe('scopes[a][1]');
  });

  it('rejects bad options, clock and backend', async () => {
    expect((await invalid(() => new RateLimiter(null as never))).field).toBe('options');
    // A clock with only now() is valid (SPEC §3); one without a now() function is not.
    expect((await invalid(() => new RateLimiter({ clock: { now: 0 } as never }))).field).toBe('clock.now');
    expect((await invalid(() => new RateLimiter({ backend: {} as never }))).field).toBe('backend');
  });

  it.each([
    ['an empty list', []],
    ['an empty string', ''],
    ['an empty string in a list', ['a', '']],
    ['a number', 42],
    ['a number in a list', ['a', 7]],
    ['undefined', undefined],
  ])('rejects %s as scopes', async (_, scopes) => {
    const limiter = new RateLimiter({ scopes: { a: { limit: 5, window: '1s' } }, clock: new FakeClock() });
    const error = await invalid(() => limiter.tryAcquire({ scopes: scopes as never }));
    expect(error.field).toMatch(/scopes/);
    await invalid(() => limiter.acquire({ scopes: scopes as never }));
    await invalid(() => limiter.stats(scopes as never));
    await invalid(() => limiter.block(scopes as never, '1s'));
  });

  it('rejects a missing request', async () => {
    const limiter = new RateLimiter({ clock: new FakeClock() });
    expect((await invalid(() => limiter.tryAcquire(null as never))).field).toBe('request');
    expect((await invalid(() => limiter.acquire(undefined as never))).field).toMatch(/request/);
  });

  it.each([
    ['negative', -1, 'cost'],
    ['NaN', Number.NaN, 'cost'],
    ['infinite', Number.POSITIVE_INFINITY, 'cost'],
    ['a string', 'abc', 'cost'],
    ['a negative unit', { tokens: -5 }, 'cost.tokens'],
    ['a non-number unit', { tokens: 'x' }, 'cost.tokens'],
    ['null', null, 'cost'],
  ])('rejects a %s cost, naming the field', async (_, cost, field) => {
    const limiter = new RateLimiter({
      scopes: {
        a: [
          { limit: 5, window: '1s' },
          { limit: 100, window: '1s', unit: 'tokens' },
        ],
      },
      clock: new FakeClock(),
    });
    const error = await invalid(() => limiter.tryAcquire({ scopes: 'a', cost: cost as never }));
    expect(error.field).toBe(field);
    expect(error.message).toContain('expected');
    // Nothing was charged.
    expect((await limiter.stats('a')).map((s) => s.used)).toEqual([0, 0]);
  });

  it('rejects bad durations and deltas of the other methods', async () => {
    const limiter = new RateLimiter({ scopes: { a: { limit: 5, window: '1s' } }, clock: new FakeClock() });
    expect(
      (await invalid(() => limiter.acquire({ scopes: 'a' }, { timeout: '10 parsecs' as never }))).field,
    ).toBe('timeout');
    expect((await invalid(() => limiter.block('a', '-1s' as never))).field).toBe('duration');
    expect((await invalid(() => limiter.block('a', Number.NaN))).field).toBe('duration');
    expect((await invalid(() => limiter.adjust({ scopes: 'a', delta: Number.NaN }))).field).toBe(
      'delta.requests',
    );
    expect(
      (await invalid(() => limiter.adjust({ scopes: 'a', delta: { tokens: Number.POSITIVE_INFINITY } })))
        .field,
    ).toBe('delta.tokens');
    expect((await invalid(() => limiter.adjust({ scopes: 'a', delta: null as never }))).field).toBe('delta');
    expect((await invalid(() => limiter.define('', { limit: 1, window: 1 }))).field).toBe('scopes[]');
    expect((await invalid(() => limiter.define('b', { limit: 1, window: 0 }))).field).toBe(
      'scopes[b].window',
    );
    expect((await invalid(() => limiter.reset(''))).field).toBe('scopes');
    // A failed define leaves the old rules in place.
    expect((await limiter.tryAcquire({ scopes: 'a', cost: 5 })).allowed).toBe(true);
    expect((await limiter.tryAcquire({ scopes: 'a' })).allowed).toBe(false);
  });
});
